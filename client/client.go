// Package client connects to nuxarid: an HTTP client that speaks HTTP/2
// without TLS (h2c) to http:// servers, as nuxarid does without a
// certificate, and HTTP/2 or HTTP/1.1 over TLS to https:// ones; a bearer
// token interceptor; and the generated Connect clients of every service.
package client

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// RequestTimeout bounds one RPC, including connection set-up.
const RequestTimeout = time.Minute

// HTTPClient returns an HTTP client for server (an http:// or https://
// URL).
func HTTPClient(server string) *http.Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	tr.Protocols = new(http.Protocols)
	if strings.HasPrefix(server, "https://") {
		tr.Protocols.SetHTTP1(true)
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr, Timeout: RequestTimeout}
}

// Bearer is a client interceptor that sends "Authorization: Bearer
// <token>", unless the token is empty.
type Bearer string

// WrapUnary implements connect.Interceptor.
func (b Bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if b != "" {
			req.Header().Set("Authorization", "Bearer "+string(b))
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (b Bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if b != "" {
			conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		}
		return conn
	}
}

// WrapStreamingHandler implements connect.Interceptor; handlers are not
// intercepted.
func (b Bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// Clients are the generated clients of every service.
type Clients struct {
	Org      nuxariv1connect.OrgServiceClient
	Auth     nuxariv1connect.AuthServiceClient
	Ledger   nuxariv1connect.LedgerServiceClient
	Evidence nuxariv1connect.EvidenceServiceClient
	Agents   nuxariv1connect.AgentAdminServiceClient
	Gateway  nuxariv1connect.AgentGatewayServiceClient
	// Connectors manages connectors and the org's sealing keys.
	Connectors nuxariv1connect.ConnectorServiceClient
	// Access is access governance: policies, requests, plans, grants.
	Access nuxariv1connect.AccessServiceClient
}

// New returns clients of server that send token (if not empty); opts
// select the protocol (default Connect) and more.
func New(server, token string, opts ...connect.ClientOption) Clients {
	hc := HTTPClient(server)
	opts = append([]connect.ClientOption{connect.WithInterceptors(Bearer(token))}, opts...)
	return Clients{
		Org:        nuxariv1connect.NewOrgServiceClient(hc, server, opts...),
		Auth:       nuxariv1connect.NewAuthServiceClient(hc, server, opts...),
		Ledger:     nuxariv1connect.NewLedgerServiceClient(hc, server, opts...),
		Evidence:   nuxariv1connect.NewEvidenceServiceClient(hc, server, opts...),
		Agents:     nuxariv1connect.NewAgentAdminServiceClient(hc, server, opts...),
		Gateway:    nuxariv1connect.NewAgentGatewayServiceClient(hc, server, opts...),
		Connectors: nuxariv1connect.NewConnectorServiceClient(hc, server, opts...),
		Access:     nuxariv1connect.NewAccessServiceClient(hc, server, opts...),
	}
}
