package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"

	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/server"
)

// setupPasswords are cheap argon2id parameters for the in-process
// server: only the set-up's sign-ups and logins hash passwords, and they
// are not measured.
var setupPasswords = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// inProcess is a nuxarid served on a loopback port by this process, on
// a temporary data directory, with the production defaults except
// sign-up rates (off) and password hashing (cheap). It logs every call at
// info level as nuxarid does, into io.Discard.
type inProcess struct {
	srv    *server.Server
	url    string
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startServer opens and serves it. Its goroutines, and those they start,
// carry the profile label side=server.
func startServer() (*inProcess, error) {
	dir, err := os.MkdirTemp("", "nuxload-server-")
	if err != nil {
		return nil, err
	}
	cfg := server.Config{DataDir: dir, Logger: server.NewLogger(io.Discard, slog.LevelInfo)}
	cfg.Governance.PasswordParams = &setupPasswords
	cfg.Governance.SignupRate, cfg.Governance.SignupGlobalRate = rate.Inf, rate.Inf
	p := &inProcess{dir: dir, done: make(chan error, 1)}
	pprof.Do(context.Background(), pprof.Labels("side", "server"), func(ctx context.Context) {
		if p.srv, err = server.Open(cfg); err != nil {
			return
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			p.srv.Close()
			return
		}
		p.url = "http://" + ln.Addr().String()
		var sctx context.Context
		sctx, p.cancel = context.WithCancel(ctx)
		go func() { p.done <- p.srv.Serve(sctx, ln) }()
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("in-process server: %w", err)
	}
	return p, nil
}

// close shuts it down and removes its data.
func (p *inProcess) close() error {
	p.cancel()
	err := errors.Join(<-p.done, p.srv.Close())
	return errors.Join(err, os.RemoveAll(p.dir))
}
