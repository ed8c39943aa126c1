package dynalite

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// pinned is the npm package (package.json and its lock) that local mode installs into the
// user's cache: dynalite and its dependencies at exactly the versions of the checkout's
// .tools/package-lock.json (TestPinnedLockFollowsTheCheckout keeps the two equal). It is
// embedded so that a CLI built with `go install` can install it with no checkout.
//
//go:embed pinned/package.json pinned/package-lock.json
var pinned embed.FS

// PinnedVersion is the dynalite version local mode installs and accepts in the cache: the
// one pinned/package.json names (TestPinnedLockFollowsTheCheckout keeps them equal).
const PinnedVersion = "4.0.0"

// Where dynalite was found.
const (
	FromEnv      = EnvTools     // $SFN_ROLLOUT_TOOLS
	FromCheckout = "checkout"   // .tools/ of the working directory or a parent
	FromCache    = "user cache" // CacheDir()
)

// CacheDir is where local mode keeps its npm tools outside a checkout:
// <os.UserCacheDir()>/sfn-rollout/tools ($XDG_CACHE_HOME or ~/.cache on Linux,
// ~/Library/Caches on macOS).
func CacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for the node tools (set SFN_ROLLOUT_TOOLS to a folder holding node_modules/dynalite): %w", err)
	}
	return filepath.Join(base, "sfn-rollout", "tools"), nil
}

// Found is dynalite's cli.js and where it was found.
type Found struct {
	CLI    string
	Source string
}

// NotInstalledError says that no dynalite was found, where it was looked for, and the one
// command that fixes it.
type NotInstalledError struct {
	Tried []string
	Fix   string
}

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("dynalite is not installed: %s; looked for %s", e.Fix, strings.Join(e.Tried, ", "))
}

// Find looks for dynalite's cli.js, in order: under $SFN_ROLLOUT_TOOLS, under .tools/ of the
// working directory and its parents (a checkout, after `make tools`), then in CacheDir(),
// where only the pinned version counts (an older CLI's install is replaced, not used).
func Find() (Found, error) {
	var tried []string
	if dir := os.Getenv(EnvTools); dir != "" {
		p := cliIn(dir)
		if exists(p) {
			return Found{p, FromEnv}, nil
		}
		tried = append(tried, p)
	}
	dir, err := os.Getwd()
	if err != nil {
		return Found{}, fmt.Errorf("find dynalite: %w", err)
	}
	for {
		p := cliIn(filepath.Join(dir, ".tools"))
		if exists(p) {
			return Found{p, FromCheckout}, nil
		}
		tried = append(tried, p)
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	cache, err := CacheDir()
	if err != nil {
		return Found{}, err
	}
	p := cliIn(cache)
	if v := installedVersion(cache); v == PinnedVersion {
		return Found{p, FromCache}, nil
	} else if v != "" {
		p += " (version " + v + ", not " + PinnedVersion + ")"
	}
	tried = append(tried, p)
	return Found{}, &NotInstalledError{Tried: tried, Fix: fixCommand(cache)}
}

// FindCLI is Find's path alone.
func FindCLI() (string, error) {
	f, err := Find()
	return f.CLI, err
}

// fixCommand is the command a user runs when local mode cannot install dynalite itself.
func fixCommand(cache string) string {
	if _, err := exec.LookPath("npm"); err != nil {
		return fmt.Sprintf("install Node.js 20 or later with npm, then run `npm install --prefix %s dynalite@%s` (or `make tools` in a checkout)", shellQuote(cache), PinnedVersion)
	}
	return fmt.Sprintf("run `npm install --prefix %s dynalite@%s` (or `make tools` in a checkout)", shellQuote(cache), PinnedVersion)
}

// Ensure finds dynalite as Find does; when it is nowhere and npm is on PATH it installs the
// pinned version into CacheDir() with `npm ci` (once: later runs find it there), saying so on
// progress. Without npm it returns Find's NotInstalledError, whose Fix names the command.
func Ensure(ctx context.Context, progress io.Writer) (Found, error) {
	found, err := Find()
	var missing *NotInstalledError
	if err == nil || !errors.As(err, &missing) {
		return found, err
	}
	npm, lookErr := exec.LookPath("npm")
	if lookErr != nil {
		return Found{}, err
	}
	cache, err := CacheDir()
	if err != nil {
		return Found{}, err
	}
	fmt.Fprintf(progress, "installing dynalite %s into %s with npm (first use only)...\n", PinnedVersion, cache)
	start := time.Now()
	if err := install(ctx, npm, cache); err != nil {
		return Found{}, fmt.Errorf("install dynalite %s into %s: %w; %s", PinnedVersion, cache, err, missing.Fix)
	}
	fmt.Fprintf(progress, "installed dynalite %s in %s\n", PinnedVersion, time.Since(start).Round(100*time.Millisecond))
	return Found{cliIn(cache), FromCache}, nil
}

// install runs `npm ci` on the pinned package in a fresh folder beside cache and renames it
// into place, so that an interrupted install leaves nothing that Find would take, and two
// CLIs installing at once both end with one complete install.
func install(ctx context.Context, npm, cache string) error {
	parent := filepath.Dir(cache)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "tools-install-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"package.json", "package-lock.json"} {
		data, err := pinned.ReadFile("pinned/" + name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--prefix", tmp, "--no-audit", "--no-fund", "--loglevel=error")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci: %w: %s", err, lastLines(out.String(), 5))
	}
	if v := installedVersion(tmp); v != PinnedVersion {
		return fmt.Errorf("npm ci installed dynalite %q, want %s", v, PinnedVersion)
	}
	if installedVersion(cache) == PinnedVersion {
		return nil // another CLI finished first
	}
	if _, err := os.Stat(cache); err == nil {
		// An older CLI's install, or a broken one: set it aside, then remove it.
		old := cache + ".old-" + filepath.Base(tmp)
		if err := os.Rename(cache, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, cache); err != nil {
		if installedVersion(cache) == PinnedVersion {
			return nil
		}
		return err
	}
	return nil
}

func cliIn(dir string) string { return filepath.Join(dir, "node_modules", "dynalite", "cli.js") }

// installedVersion is the version of dynalite under dir/node_modules, "" when none is there.
func installedVersion(dir string) string {
	if !exists(cliIn(dir)) {
		return ""
	}
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", "dynalite", "package.json"))
	if err != nil {
		return "unknown"
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &pkg) != nil || pkg.Version == "" {
		return "unknown"
	}
	return pkg.Version
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
