package cli_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/nuxari/nuxari/cli"
)

// What the fake services the commands are tested against share.

// call is one request a fake received.
type call struct {
	method string
	msg    proto.Message
}

// callLog records the requests a fake receives.
type callLog struct {
	lock  sync.Mutex
	calls []call
}

func (l *callLog) add(method string, msg proto.Message) {
	l.lock.Lock()
	defer l.lock.Unlock()
	l.calls = append(l.calls, call{method, proto.Clone(msg)})
}

// requests returns the requests of method, in order.
func (l *callLog) requests(method string) []proto.Message {
	l.lock.Lock()
	defer l.lock.Unlock()
	var out []proto.Message
	for _, c := range l.calls {
		if c.method == method {
			out = append(out, c.msg)
		}
	}
	return out
}

// last returns the latest request of method.
func (l *callLog) last(t testing.TB, method string) proto.Message {
	t.Helper()
	reqs := l.requests(method)
	if len(reqs) == 0 {
		t.Fatalf("%s was not called", method)
	}
	return reqs[len(reqs)-1]
}

// methods returns the methods called, in order.
func (l *callLog) methods() []string {
	l.lock.Lock()
	defer l.lock.Unlock()
	var out []string
	for _, c := range l.calls {
		out = append(out, c.method)
	}
	return out
}

// reset forgets the requests received so far.
func (l *callLog) reset() {
	l.lock.Lock()
	defer l.lock.Unlock()
	l.calls = nil
}

// serveFake serves a Connect handler (path and handler, as the
// generated New…Handler returns them) over h2c and HTTP/1.1 on loopback
// and points h at it, with the harness's token.
func serveFake(t testing.TB, h *harness, path string, handler http.Handler) {
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	h.env[cli.EnvServer] = srv.URL
	h.env[cli.EnvToken] = fakeToken
}

// fakeTokenCheck refuses a request without the harness's bearer token.
func fakeTokenCheck() connect.HandlerOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Header().Get("Authorization") != "Bearer "+fakeToken {
				return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no token"))
			}
			return next(ctx, req)
		}
	}))
}
