package cli

import (
	"bytes"
	"testing"
	"time"
)

func TestLineProgress(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var out bytes.Buffer
	p := newLineProgress(&out, "downloading x1", 10<<20, unitBytes, clock)
	steps := []struct {
		after time.Duration
		n     int64
		want  string // the line printed, if any
	}{
		{0, 1 << 20, ""}, // too early
		{time.Second, 2 << 20, ""},
		{time.Second, 3 << 20, "downloading x1: 3.0 MiB of 10.0 MiB (30%)\n"},
		{time.Second, 4 << 20, ""}, // one second after the last line
		{time.Second, 3 << 20, ""}, // what the last line showed
		{0, 5 << 20, "downloading x1: 5.0 MiB of 10.0 MiB (50%)\n"},
		{time.Second, 6 << 20, ""},
		{5 * time.Second, 20 << 20, "downloading x1: 10.0 MiB of 10.0 MiB (100%)\n"}, // capped at the total
	}
	for i, s := range steps {
		now = now.Add(s.after)
		out.Reset()
		p.set(s.n)
		if out.String() != s.want {
			t.Errorf("step %d: printed %q, want %q", i, out.String(), s.want)
		}
	}
	out.Reset()
	p.finish(true)
	if want := "downloading x1: 10.0 MiB of 10.0 MiB (100%)\n"; out.String() != want {
		t.Errorf("finish: %q, want %q", out.String(), want)
	}
	out.Reset()
	q := newLineProgress(&out, "export e1", 40, unitEntries, clock)
	q.set(12)
	q.finish(false)
	if out.Len() != 0 {
		t.Errorf("a failed operation printed %q", out.String())
	}
	q = newLineProgress(&out, "export e1", 40, unitEntries, clock)
	q.set(40)
	q.finish(true)
	if want := "export e1: 40 of 40 log entries read (100%)\n"; out.String() != want {
		t.Errorf("entries: %q, want %q", out.String(), want)
	}
}

func TestByteCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := byteCount(n); got != want {
			t.Errorf("byteCount(%d) = %q, want %q", n, got, want)
		}
	}
}
