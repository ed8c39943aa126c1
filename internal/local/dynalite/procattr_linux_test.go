package dynalite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envOrphanChild = "SFN_ROLLOUT_DYNALITE_ORPHAN_CHILD"

// A process that dies without Stop (a panic, a test timeout, kill -9) takes dynalite with
// it. The test runs itself as a child that starts dynalite, prints its PID and exits.
func TestDynaliteDiesWithItsParent(t *testing.T) {
	if os.Getenv(envOrphanChild) == "1" {
		cli, err := FindCLI()
		if err != nil {
			os.Exit(3)
		}
		p, err := Start(context.Background(), cli)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Println(p.PID())
		os.Exit(0) // no Stop
	}
	if _, err := FindCLI(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDynaliteDiesWithItsParent$")
	cmd.Env = append(os.Environ(), envOrphanChild+"=1")
	// Not a pipe: an orphaned dynalite would hold it open and Output would never return.
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("child printed %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("dynalite (pid %d) outlived the process that started it", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive is whether pid runs; a zombie that no init has reaped yet counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
