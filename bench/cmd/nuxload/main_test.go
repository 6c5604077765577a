package main

import "testing"

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--url", "http://192.0.2.1:8080"},
		{"--url", "http://nuxari.example:8080"},
		{"--concurrency", "100000"},
		{"--duration", "1h"},
		{"--protocol", "grpcweb"},
		{"--workloads", "append,login"},
		{"--url", "http://127.0.0.1:8080", "--cpuprofile", "p"},
		{"stray"},
	} {
		if code := run(append(args, "--quiet")); code != 2 {
			t.Errorf("nuxload %q exited %d, want 2", args, code)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"--duration", "10s", "--workloads", "append proof", "--json", ""})
	if want := `nuxload --duration 10s --workloads 'append proof' --json ''`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
