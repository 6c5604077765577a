package server

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter is a listener that caps open connections per source and in
// total: a connection beyond a cap is closed as soon as it is accepted,
// before any byte of it is read, so that no source can take every file
// descriptor of the process.
type connLimiter struct {
	net.Listener
	conns    *counter
	open     prometheus.Gauge
	refusals *prometheus.CounterVec
	log      *slog.Logger
	lastWarn atomic.Int64 // unix nanoseconds of the last refusal logged
}

// warnEvery spaces the log lines about refused connections: the metric
// counts each one.
const warnEvery = 10 * time.Second

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := source(c.RemoteAddr().String())
		if reason := l.conns.acquire(src); reason != "" {
			c.Close()
			l.refusals.WithLabelValues("conn", reason).Inc()
			now, last := time.Now().UnixNano(), l.lastWarn.Load()
			if now-last >= int64(warnEvery) && l.lastWarn.CompareAndSwap(last, now) {
				l.log.Warn("refusing connections beyond a limit", slog.String("limit", reason), slog.String("source", src))
			}
			continue
		}
		l.open.Inc()
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() {
			l.conns.release(src)
			l.open.Dec()
		})}, nil
	}
}

// limitedConn gives its place back when it is closed, once.
type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
