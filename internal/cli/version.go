package cli

import (
	"fmt"
	"io"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// BuildView is what `sfn-rollout version` prints.
type BuildView struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Time     string `json:"commitTime,omitempty"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

// pseudoCommit finds the commit in a pseudo-version (v0.0.0-20261205075206-372b88e1a2b3,
// v1.2.4-0.20261205075206-372b88e1a2b3+dirty): `go install …@latest` builds from a module
// zip, which carries no VCS stamp, so the version is the only place the commit is written.
var pseudoCommit = regexp.MustCompile(`[-.]\d{14}-([0-9a-f]{12})(\+dirty)?$`)

// versionOf reads the module version and VCS commit from the binary's build information.
func versionOf(bi *debug.BuildInfo, ok bool) BuildView {
	if !ok || bi == nil {
		return BuildView{Module: "github.com/sfn-rollout/sfn-rollout", Version: "unknown", Commit: "unknown"}
	}
	v := BuildView{Module: bi.Main.Path, Version: bi.Main.Version, Go: bi.GoVersion}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Commit == "" {
		if m := pseudoCommit.FindStringSubmatch(v.Version); m != nil {
			v.Commit = m[1]
		}
	}
	if strings.HasSuffix(v.Version, "+dirty") {
		v.Modified = true
	}
	if v.Commit == "" {
		v.Commit = "unknown" // a tagged release from the module proxy: the tag names it
	}
	return v
}

func renderVersion(w io.Writer, v BuildView) error {
	line := fmt.Sprintf("sfn-rollout %s (%s), commit %s", v.Version, v.Module, v.Commit)
	if v.Time != "" {
		line += " of " + v.Time
	}
	if v.Modified {
		line += ", with uncommitted changes"
	}
	if v.Go != "" {
		line += ", built with " + v.Go
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

func newVersion(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's module version and the commit it was built from",
		Example: `  sfn-rollout version
  sfn-rollout version -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionOf(debug.ReadBuildInfo())
			if a.json() {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return renderVersion(cmd.OutOrStdout(), v)
		},
	}
}
