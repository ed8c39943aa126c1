package dynalite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite pinned/ from the checkout's .tools/package-lock.json")

// pinnedFrom keeps, of the checkout's tools package, dynalite and what it needs: the root
// names dynalite alone, and the lock keeps the entries node's resolution reaches from it.
func pinnedFrom(pkgJSON, lockJSON []byte) (pkg, lock []byte, err error) {
	var p map[string]any
	if err := json.Unmarshal(pkgJSON, &p); err != nil {
		return nil, nil, err
	}
	dev, _ := p["devDependencies"].(map[string]any)
	version, _ := dev["dynalite"].(string)
	if version == "" {
		return nil, nil, fmt.Errorf("the tools' package.json pins no dynalite")
	}
	root := map[string]any{
		"name":            "sfn-rollout-local-tools",
		"version":         "0.0.0",
		"private":         true,
		"description":     "The node tools of sfn-rollout local, installed into the user's cache. Generated from .tools/ by go test ./internal/local/dynalite -run TestPinnedLockFollowsTheCheckout -update",
		"license":         "UNLICENSED",
		"devDependencies": map[string]any{"dynalite": version},
	}
	var l struct {
		Name            string                    `json:"name"`
		Version         string                    `json:"version"`
		LockfileVersion int                       `json:"lockfileVersion"`
		Requires        bool                      `json:"requires"`
		Packages        map[string]map[string]any `json:"packages"`
	}
	if err := json.Unmarshal(lockJSON, &l); err != nil {
		return nil, nil, err
	}
	keep := map[string]bool{}
	var visit func(from, name string) error
	visit = func(from, name string) error {
		// node looks in from/node_modules, then in each parent's node_modules.
		at := from
		for {
			path := strings.TrimPrefix(at+"/node_modules/"+name, "/")
			if _, ok := l.Packages[path]; ok {
				if keep[path] {
					return nil
				}
				keep[path] = true
				entry := l.Packages[path]
				for _, field := range []string{"dependencies", "optionalDependencies"} {
					deps, _ := entry[field].(map[string]any)
					for dep := range deps {
						if err := visit(path, dep); err != nil {
							if field == "optionalDependencies" {
								continue
							}
							return err
						}
					}
				}
				return nil
			}
			if at == "" {
				return fmt.Errorf("%s needs %s, which the lock does not hold", from, name)
			}
			i := strings.LastIndex(at, "/node_modules/")
			if i < 0 {
				at = ""
			} else {
				at = at[:i]
			}
		}
	}
	if err := visit("", "dynalite"); err != nil {
		return nil, nil, err
	}
	packages := map[string]map[string]any{"": {
		"name": root["name"], "version": root["version"], "license": root["license"],
		"devDependencies": root["devDependencies"],
	}}
	for path := range keep {
		packages[path] = l.Packages[path]
	}
	out := map[string]any{
		"name": root["name"], "version": root["version"], "lockfileVersion": l.LockfileVersion,
		"requires": true, "packages": packages,
	}
	if pkg, err = json.MarshalIndent(root, "", "  "); err != nil {
		return nil, nil, err
	}
	if lock, err = json.MarshalIndent(out, "", "  "); err != nil {
		return nil, nil, err
	}
	return append(pkg, '\n'), append(lock, '\n'), nil
}

// The embedded package installs what a checkout's `make tools` installs for local mode.
func TestPinnedLockFollowsTheCheckout(t *testing.T) {
	toolsPkg, err := os.ReadFile("../../../.tools/package.json")
	if err != nil {
		t.Fatal(err)
	}
	toolsLock, err := os.ReadFile("../../../.tools/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	pkg, lock, err := pinnedFrom(toolsPkg, toolsLock)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		for name, data := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
			if err := os.WriteFile(filepath.Join("pinned", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		got, err := pinned.ReadFile("pinned/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("pinned/%s differs from what .tools/ pins; run go test ./internal/local/dynalite -run TestPinnedLockFollowsTheCheckout -update", name)
		}
	}
	var l struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatal(err)
	}
	data, err := pinned.ReadFile("pinned/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pinnedPkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(data, &pinnedPkg); err != nil || pinnedPkg.DevDependencies["dynalite"] != PinnedVersion {
		t.Errorf("pinned/package.json names dynalite %q (%v), PinnedVersion is %q: set PinnedVersion to the pinned version", pinnedPkg.DevDependencies["dynalite"], err, PinnedVersion)
	}
	if l.Packages["node_modules/dynalite"].Version != PinnedVersion || PinnedVersion == "" {
		t.Errorf("lock pins dynalite %q, PinnedVersion is %q", l.Packages["node_modules/dynalite"].Version, PinnedVersion)
	}
	for _, other := range []string{"node_modules/aws-cdk", "node_modules/asl-validator"} {
		if _, ok := l.Packages[other]; ok {
			t.Errorf("the pinned lock installs %s, which local mode does not need", other)
		}
	}
}

// fakeTools makes dir/node_modules/dynalite with a cli.js and a package.json of version.
func fakeTools(t *testing.T, dir, version string) string {
	t.Helper()
	mod := filepath.Join(dir, "node_modules", "dynalite")
	if err := os.MkdirAll(mod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "cli.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mod, "package.json"), []byte(`{"name":"dynalite","version":"`+version+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(mod, "cli.js")
}

// isolate gives the test an empty working directory, an empty user cache and no
// SFN_ROLLOUT_TOOLS, and returns the working directory and the cache's tools folder.
func isolate(t *testing.T) (wd, cache string) {
	t.Helper()
	base := t.TempDir()
	wd = filepath.Join(base, "work", "project")
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	t.Setenv("HOME", filepath.Join(base, "home"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(base, "cache"))
	t.Setenv(EnvTools, "")
	return wd, filepath.Join(base, "cache", "sfn-rollout", "tools")
}

func TestFindLooksInEnvThenCheckoutThenCache(t *testing.T) {
	wd, cache := isolate(t)
	if dir, _ := CacheDir(); dir != cache {
		t.Fatalf("CacheDir = %q, want %q", dir, cache)
	}
	envDir := filepath.Join(filepath.Dir(wd), "env-tools")
	t.Setenv(EnvTools, envDir)

	_, err := Find()
	var missing *NotInstalledError
	if !errors.As(err, &missing) {
		t.Fatalf("Find in an empty world = %v, want a NotInstalledError", err)
	}
	wantTried := []string{cliIn(envDir), cliIn(filepath.Join(wd, ".tools")), cliIn(filepath.Join(filepath.Dir(wd), ".tools"))}
	for i, w := range wantTried {
		if i >= len(missing.Tried) || missing.Tried[i] != w {
			t.Fatalf("tried %q, want it to start with %q", missing.Tried, wantTried)
		}
	}
	if last := missing.Tried[len(missing.Tried)-1]; last != cliIn(cache) {
		t.Fatalf("last place tried %q, want the cache %q", last, cliIn(cache))
	}

	steps := []struct {
		name   string
		setup  func() string
		source string
	}{
		{"cache only", func() string { return fakeTools(t, cache, PinnedVersion) }, FromCache},
		{"a parent's checkout beats the cache", func() string { return fakeTools(t, filepath.Join(filepath.Dir(wd), ".tools"), "1.0.0") }, FromCheckout},
		{"the working directory's checkout beats a parent's", func() string { return fakeTools(t, filepath.Join(wd, ".tools"), "1.0.0") }, FromCheckout},
		{"SFN_ROLLOUT_TOOLS beats everything", func() string { return fakeTools(t, envDir, "1.0.0") }, FromEnv},
	}
	for _, s := range steps {
		want := s.setup()
		got, err := Find()
		if err != nil || got.CLI != want || got.Source != s.source {
			t.Errorf("%s: Find = %+v, %v; want %s from %s", s.name, got, err, want, s.source)
		}
	}
}

func TestFindTakesOnlyThePinnedVersionFromTheCache(t *testing.T) {
	_, cache := isolate(t)
	fakeTools(t, cache, "3.2.1")
	_, err := Find()
	var missing *NotInstalledError
	if !errors.As(err, &missing) {
		t.Fatalf("Find with an old dynalite in the cache = %v, want NotInstalledError", err)
	}
	if !strings.Contains(err.Error(), "version 3.2.1, not "+PinnedVersion) {
		t.Errorf("error %q does not say the cache holds another version", err)
	}
}

func TestNotInstalledWithoutNPMNamesTheFix(t *testing.T) {
	_, cache := isolate(t)
	t.Setenv("PATH", t.TempDir()) // neither node nor npm
	_, err := Ensure(context.Background(), &bytes.Buffer{})
	var missing *NotInstalledError
	if !errors.As(err, &missing) {
		t.Fatalf("Ensure without npm = %v, want NotInstalledError", err)
	}
	want := "dynalite is not installed: install Node.js 20 or later with npm, then run `npm install --prefix " + cache + " dynalite@" + PinnedVersion + "` (or `make tools` in a checkout); looked for "
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error\n%s\nwant it to start\n%s", err, want)
	}
	if strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("error is not one line: %q", err)
	}
}

// writeFakeNPM puts an npm on PATH that records its arguments and the package it was
// given, then makes a node_modules/dynalite of version under its --prefix.
func writeFakeNPM(t *testing.T, version string, fail bool) (log string) {
	t.Helper()
	bin := t.TempDir()
	log = filepath.Join(bin, "npm.log")
	exit := "0"
	if fail {
		exit = "1"
	}
	script := `#!/bin/sh
echo "$@" >> ` + log + `
prefix=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--prefix" ]; then prefix="$2"; shift; fi
  shift
done
cp "$prefix/package-lock.json" ` + log + `.lock
if [ ` + exit + ` != 0 ]; then echo "npm error network request failed" >&2; exit ` + exit + `; fi
mkdir -p "$prefix/node_modules/dynalite"
: > "$prefix/node_modules/dynalite/cli.js"
echo '{"name":"dynalite","version":"` + version + `"}' > "$prefix/node_modules/dynalite/package.json"
`
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+"/usr/bin:/bin")
	return log
}

func TestEnsureInstallsThePinnedPackageOnce(t *testing.T) {
	_, cache := isolate(t)
	fakeTools(t, cache, "3.2.1") // an older CLI's install is replaced
	log := writeFakeNPM(t, PinnedVersion, false)
	var progress bytes.Buffer
	got, err := Ensure(context.Background(), &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got.CLI != cliIn(cache) || got.Source != FromCache {
		t.Errorf("Ensure = %+v, want %s from the cache", got, cliIn(cache))
	}
	if v := installedVersion(cache); v != PinnedVersion {
		t.Errorf("cache holds dynalite %q after the install, want %s", v, PinnedVersion)
	}
	if want := "installing dynalite " + PinnedVersion + " into " + cache + " with npm (first use only)...\n"; !strings.HasPrefix(progress.String(), want) {
		t.Errorf("progress %q, want it to start %q", progress.String(), want)
	}
	args, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(args), "ci --prefix "+filepath.Dir(cache)+"/tools-install-") {
		t.Errorf("npm ran as %q, want npm ci into a folder beside the cache", args)
	}
	gotLock, _ := os.ReadFile(log + ".lock")
	wantLock, _ := pinned.ReadFile("pinned/package-lock.json")
	if !bytes.Equal(gotLock, wantLock) {
		t.Error("npm ci was not given the embedded lock")
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(cache), "tools*"))
	sort.Strings(leftovers)
	if len(leftovers) != 1 || leftovers[0] != cache {
		t.Errorf("after the install the cache holds %q, want only %s", leftovers, cache)
	}

	// Found in the cache from now on: npm does not run again.
	progress.Reset()
	if _, err := Ensure(context.Background(), &progress); err != nil {
		t.Fatal(err)
	}
	args, _ = os.ReadFile(log)
	if n := strings.Count(string(args), "\n"); n != 1 || progress.Len() != 0 {
		t.Errorf("second Ensure ran npm %d times in all and said %q; want it found in the cache", n, progress.String())
	}
}

func TestEnsureReportsAFailedInstallWithItsFix(t *testing.T) {
	_, cache := isolate(t)
	writeFakeNPM(t, PinnedVersion, true)
	_, err := Ensure(context.Background(), &bytes.Buffer{})
	if err == nil {
		t.Fatal("Ensure succeeded with an npm that fails")
	}
	for _, want := range []string{"npm error network request failed", "npm install --prefix " + cache + " dynalite@" + PinnedVersion} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, statErr := os.Stat(cache); !os.IsNotExist(statErr) {
		t.Errorf("a failed install left %s behind", cache)
	}
}
