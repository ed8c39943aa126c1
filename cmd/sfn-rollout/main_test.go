package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfn-rollout/sfn-rollout/internal/local/dynalite"
)

// buildCLI builds the CLI from the module into a temporary folder, as `go install` would.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sfn-rollout")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// repoTools is the checkout's .tools/node_modules, which `make tools` installs.
func repoTools(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../.tools/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dynalite", "cli.js")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dynalite is not under .tools/ (CI=true: run `make tools` first): %v", err)
		}
		t.Skipf("dynalite is not under .tools/; run `make tools`: %v", err)
	}
	return dir
}

// A CLI built from the module and run from an empty folder, with an empty user cache and
// npm on PATH, installs dynalite into the cache with a progress line and serves local mode.
// npm is a stand-in that links the checkout's node_modules, so the test needs no network.
func TestLocalFromAnEmptyDirectory(t *testing.T) {
	tools := repoTools(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	bin := buildCLI(t)
	base := t.TempDir()
	work, home, cache, fakeBin := filepath.Join(base, "empty"), filepath.Join(base, "home"), filepath.Join(base, "cache"), filepath.Join(base, "bin")
	for _, d := range []string{work, home, cache, fakeBin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	npmLog := filepath.Join(base, "npm.log")
	npm := `#!/bin/sh
echo "$@" >> ` + npmLog + `
prefix=""
while [ $# -gt 0 ]; do
  if [ "$1" = "--prefix" ]; then prefix="$2"; shift; fi
  shift
done
test -f "$prefix/package-lock.json" || { echo "no package-lock.json in $prefix" >&2; exit 1; }
ln -s ` + tools + ` "$prefix/node_modules"
`
	if err := os.WriteFile(filepath.Join(fakeBin, "npm"), []byte(npm), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(node, filepath.Join(fakeBin, "node")); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "XDG_CACHE_HOME=" + cache, "PATH=" + fakeBin + ":/usr/bin:/bin"}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "local", "--addr", "127.0.0.1:0", "--speed", "60")
	cmd.Dir, cmd.Env = work, env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	errLines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			errLines <- s.Text()
		}
		close(errLines)
	}()
	ready := regexp.MustCompile(`local endpoint ready on (http://127\.0\.0\.1:\d+)`)
	var url string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if m := ready.FindStringSubmatch(line); m != nil {
			url = m[1]
		}
		if strings.HasPrefix(line, "controller deployed:") {
			break
		}
	}
	if url == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		var errs []string
		for l := range errLines {
			errs = append(errs, l)
		}
		t.Fatalf("sfn-rollout local did not start from an empty folder; stderr:\n%s", strings.Join(errs, "\n"))
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	wantCache := filepath.Join(cache, "sfn-rollout", "tools")
	if first := <-errLines; first != "installing dynalite "+dynalite.PinnedVersion+" into "+wantCache+" with npm (first use only)..." {
		t.Errorf("first stderr line %q, want the install's progress line", first)
	}
	if log, _ := os.ReadFile(npmLog); !strings.HasPrefix(string(log), "ci --prefix "+filepath.Dir(wantCache)) {
		t.Errorf("npm ran as %q", log)
	}
	if _, err := os.Stat(filepath.Join(wantCache, "node_modules", "dynalite", "cli.js")); err != nil {
		t.Errorf("dynalite is not in the cache after the first run: %v", err)
	}
	resp, err := http.Get(url + "/_sfn-rollout/config")
	if err != nil {
		t.Fatal(err)
	}
	var config map[string]any
	err = json.NewDecoder(resp.Body).Decode(&config)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || config["bucket"] == nil {
		t.Errorf("GET /_sfn-rollout/config: %d %v %v, want the deployed controller's names", resp.StatusCode, config, err)
	}
	if entries, _ := os.ReadDir(work); len(entries) != 0 {
		t.Errorf("local mode wrote into the working directory: %v", entries)
	}

	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("sfn-rollout local after Ctrl-C: %v", err)
	}
}

func TestVersionFromABuiltCLI(t *testing.T) {
	out, err := exec.Command(buildCLI(t), "version", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Module, Version, Commit string }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if v.Module != "github.com/sfn-rollout/sfn-rollout" || v.Version == "" || v.Commit == "" {
		t.Errorf("version -o json = %s", out)
	}
}
