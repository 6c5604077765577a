package load

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/nuxari/nuxari/ledger"
)

// baseline is the in-process ledger the append workloads are compared
// with: the ledger package used directly, as bench/ does, on a
// temporary directory with its default configuration (the one nuxarid
// opens it with), appending the bytes the server would store for the
// same events, each call waiting for a signed checkpoint as
// AppendEvents does.
type baseline struct {
	l      *ledger.Ledger
	dir    string
	orgs   []string
	leaves [][]byte
}

func openBaseline(ctx context.Context, cfg Config, pool *eventPool, orgs []*org) (*baseline, error) {
	leaves, err := pool.leaves("token:" + orgs[0].tokenID)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nuxload-ledger-")
	if err != nil {
		return nil, err
	}
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "nuxload")
	if err != nil {
		return nil, err
	}
	signer, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		return nil, err
	}
	b := &baseline{dir: dir, leaves: leaves}
	for _, o := range orgs[:min(len(orgs), cfg.Concurrency)] {
		b.orgs = append(b.orgs, o.id)
	}
	pprof.Do(ctx, pprof.Labels("side", "ledger"), func(ctx context.Context) {
		if b.l, err = ledger.Open(ledger.Config{Dir: dir, LogName: "nuxload", Signer: signer, VerifierKey: vkey}); err != nil {
			return
		}
		// Create every org's log, as the sign-ups did on the server.
		for _, o := range b.orgs {
			if _, err = b.l.Append(ctx, o, []ledger.Entry{{Event: leaves[0]}}, ledger.AckDurable); err != nil {
				return
			}
		}
	})
	if err != nil {
		if b.l != nil {
			b.l.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("in-process ledger: %w", err)
	}
	return b, nil
}

// measure appends batch events per call from cfg.Concurrency appenders,
// appender i to org i mod Orgs, as the clients do.
func (b *baseline) measure(ctx context.Context, cfg Config, name string, batch int) (Result, error) {
	type appender struct {
		es   []ledger.Entry
		next int
	}
	as := make([]appender, cfg.Concurrency)
	for i := range as {
		as[i] = appender{es: make([]ledger.Entry, batch), next: i * 37 % poolSize}
	}
	res, err := measure(ctx, cfg, name, "ledger", len(as), func(ctx context.Context, i int) (int, error) {
		a := &as[i]
		for j := range a.es {
			a.es[j] = ledger.Entry{Event: b.leaves[a.next+j]}
		}
		a.next = (a.next + batch) % poolSize
		rs, err := b.l.Append(ctx, b.orgs[i%len(b.orgs)], a.es, ledger.AckCheckpoint)
		if err != nil {
			return 0, err
		}
		if rs[len(rs)-1].Checkpoint == nil {
			return 0, errors.New("ledger: no checkpoint")
		}
		return batch, nil
	})
	res.BatchSize = batch
	return res, err
}

func (b *baseline) close() {
	b.l.Close()
	os.RemoveAll(b.dir)
}
