package cli

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	const mod = "github.com/sfn-rollout/sfn-rollout"
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want BuildView
	}{
		{
			name: "go install @latest of a pseudo-version: no VCS stamp, commit from the version",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: mod, Version: "v0.0.0-20261205075206-372b88e1a2b3"}},
			ok:   true,
			want: BuildView{Module: mod, Version: "v0.0.0-20261205075206-372b88e1a2b3", Commit: "372b88e1a2b3", Go: "go1.26.8"},
		},
		{
			name: "go install of a tag",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: mod, Version: "v1.4.0"}},
			ok:   true,
			want: BuildView{Module: mod, Version: "v1.4.0", Commit: "unknown", Go: "go1.26.8"},
		},
		{
			name: "go build in a checkout with changes",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: mod, Version: "v0.0.0-20261205075206-372b88e1a2b3+dirty"}, Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "372b88e1a2b3c4d5e6f708192a3b4c5d6e7f8091"},
				{Key: "vcs.time", Value: "2026-12-05T07:52:06Z"}, {Key: "vcs.modified", Value: "true"},
			}},
			ok: true,
			want: BuildView{Module: mod, Version: "v0.0.0-20261205075206-372b88e1a2b3+dirty", Commit: "372b88e1a2b3c4d5e6f708192a3b4c5d6e7f8091",
				Time: "2026-12-05T07:52:06Z", Modified: true, Go: "go1.26.8"},
		},
		{
			name: "go run: (devel), no stamp",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: mod, Version: "(devel)"}},
			ok:   true,
			want: BuildView{Module: mod, Version: "(devel)", Commit: "unknown", Go: "go1.26.8"},
		},
		{
			name: "no build information",
			want: BuildView{Module: mod, Version: "unknown", Commit: "unknown"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.bi, tt.ok); got != tt.want {
				t.Errorf("versionOf = %+v\nwant        %+v", got, tt.want)
			}
		})
	}
}

func TestRenderVersion(t *testing.T) {
	var b bytes.Buffer
	v := BuildView{Module: "github.com/sfn-rollout/sfn-rollout", Version: "v1.4.0", Commit: "372b88e1a2b3", Time: "2026-12-05T07:52:06Z", Modified: true, Go: "go1.26.8"}
	if err := renderVersion(&b, v); err != nil {
		t.Fatal(err)
	}
	want := "sfn-rollout v1.4.0 (github.com/sfn-rollout/sfn-rollout), commit 372b88e1a2b3 of 2026-12-05T07:52:06Z, with uncommitted changes, built with go1.26.8\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}
