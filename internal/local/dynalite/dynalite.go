// Package dynalite finds (or installs) dynalite, a DynamoDB implementation on LevelDB, starts
// it on a free loopback port, and stops it by its PID.
package dynalite

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// EnvTools overrides where the npm tools are (the folder holding node_modules).
const EnvTools = "SFN_ROLLOUT_TOOLS"

// Process is a running dynalite.
type Process struct {
	URL  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs dynalite on a free 127.0.0.1 port and waits until it answers. A port can be
// taken between the probe and dynalite's listen, so it tries three.
func Start(ctx context.Context, cli string) (*Process, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("dynalite needs Node.js: %w", err)
	}
	var errs []error
	for range 3 {
		p, err := start(ctx, node, cli)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func start(ctx context.Context, node, cli string) (*Process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.SysProcAttr = procAttr()
	cmd.Stdout = nil // "Dynalite listening at ..." says nothing the caller does not know
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	p := &Process{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.done:
			return errors.New("dynalite exited before it was ready")
		default:
		}
		resp, err := http.Get(p.URL)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("dynalite did not answer within 20s")
}

// PID is dynalite's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stop kills dynalite's process group and waits for it.
func (p *Process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
