// Command nuxari-healthcheck asks a nuxarid whether it is serving, through
// the gRPC health service (grpc.health.v1.Health/Check, in the Connect
// protocol over HTTP/1.1), and exits 0 if it is, 1 if not. The container
// image carries it for health checks, since the image has no shell and no
// curl:
//
//	nuxari-healthcheck [-url http://127.0.0.1:8080] [-service NAME] [-timeout 5s]
//
// -service names one of nuxarid's services (e.g. nuxari.v1.LedgerService);
// empty asks about the server as a whole. For a nuxarid that serves TLS,
// give an https URL, and -ca and -server-name if its certificate is not
// for the URL's host or not from a system authority.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nuxari-healthcheck:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("nuxari-healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "nuxarid's base URL")
	service := fs.String("service", "", "service to ask about (empty: the server as a whole)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	caFile := fs.String("ca", "", "PEM file of the authorities to trust for an https URL (default: the system's)")
	serverName := fs.String("server-name", "", "name to verify the server's certificate against (default: the URL's host)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	tc := &tls.Config{ServerName: *serverName, MinVersion: tls.VersionTLS12}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no certificate in it", *caFile)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	status, err := check(ctx, &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, strings.TrimRight(*url, "/"), *service)
	if err != nil {
		return err
	}
	if !serving(status) {
		return fmt.Errorf("status %s", status)
	}
	return nil
}

// serving reports whether status, as the JSON of a HealthCheckResponse
// gives it, is SERVING: nuxarid writes the enum's full value name, other
// Connect servers may write the short one or its number.
func serving(status string) bool {
	switch status {
	case "SERVING_STATUS_SERVING", "SERVING", "1":
		return true
	}
	return false
}

// check calls Health/Check and returns the status it answers.
func check(ctx context.Context, c *http.Client, base, service string) (string, error) {
	body, err := json.Marshal(map[string]string{"service": service})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/grpc.health.v1.Health/Check", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Connect-Protocol-Version", "1")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		// A Connect error: {"code": "not_found", "message": "..."}.
		var e struct{ Code, Message string }
		if json.Unmarshal(b, &e) == nil && e.Code != "" {
			return "", fmt.Errorf("%s: %s", e.Code, e.Message)
		}
		return "", fmt.Errorf("HTTP %s", resp.Status)
	}
	var out struct{ Status json.RawMessage }
	if err := json.Unmarshal(b, &out); err != nil {
		return "", fmt.Errorf("health answer: %w", err)
	}
	if len(out.Status) == 0 {
		return "", errors.New("health answer has no status")
	}
	var s string
	if json.Unmarshal(out.Status, &s) == nil {
		return s, nil
	}
	return string(out.Status), nil
}
