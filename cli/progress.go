package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how far a long operation (an export, a download, the
// verification of a package) has come, on standard error: one bar when
// standard error is a terminal, otherwise a plain line at most every
// progressInterval and one at the end. Its methods are safe for
// concurrent use.
type progress interface {
	// set records that n of the total are done.
	set(n int64)
	// finish ends the display; ok says whether the operation succeeded.
	finish(ok bool)
}

// progressInterval is how often plain progress lines are printed.
const progressInterval = 2 * time.Second

// progressUnit formats amounts: bytes, or counted things.
type progressUnit int

const (
	unitBytes   progressUnit = iota
	unitEntries              // log entries
	unitItems                // items a sync read
)

// newProgress starts showing the progress of desc towards total; a
// total of 0 means it is not known (plain lines only).
func (e *env) newProgress(desc string, total int64, unit progressUnit) progress {
	if isTerminal(e.stderr) && total > 0 {
		opts := []progressbar.Option{
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100 * time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }),
		}
		if unit == unitBytes {
			opts = append(opts, progressbar.OptionShowBytes(true))
		} else if unit == unitItems {
			opts = append(opts, progressbar.OptionSetItsString("items"))
		} else {
			opts = append(opts, progressbar.OptionSetItsString("entries"))
		}
		return &barProgress{bar: progressbar.NewOptions64(total, opts...)}
	}
	return newLineProgress(e.stderr, desc, total, unit, time.Now)
}

type barProgress struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

func (p *barProgress) set(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.bar.Set64(min(n, p.bar.GetMax64()))
}

func (p *barProgress) finish(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		_ = p.bar.Finish()
	} else {
		_ = p.bar.Exit()
	}
}

// newLineProgress returns the plain-line progress display, reading the
// time from now.
func newLineProgress(w io.Writer, desc string, total int64, unit progressUnit, now func() time.Time) *lineProgress {
	return &lineProgress{w: w, desc: desc, total: total, unit: unit, now: now, start: now()}
}

type lineProgress struct {
	mu    sync.Mutex
	now   func() time.Time
	w     io.Writer
	desc  string
	total int64
	unit  progressUnit
	start time.Time
	last  time.Time // when the last line was printed
	n     int64
	shown int64 // the amount the last line showed
}

func (p *lineProgress) set(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n = n
	if p.total > 0 {
		p.n = min(n, p.total)
	}
	now := p.now()
	if now.Sub(p.start) >= progressInterval && now.Sub(p.last) >= progressInterval && p.n != p.shown {
		p.print(now)
	}
}

func (p *lineProgress) finish(ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ok {
		p.print(p.now())
	}
}

func (p *lineProgress) print(now time.Time) {
	p.last, p.shown = now, p.n
	var s string
	switch p.unit {
	case unitBytes:
		s = fmt.Sprintf("%s of %s", byteCount(p.n), byteCount(p.total))
	case unitItems:
		s = fmt.Sprintf("%d items read", p.n)
		if p.total > 0 {
			s = fmt.Sprintf("%d of %d items read", p.n, p.total)
		}
	default:
		s = fmt.Sprintf("%d of %d log entries read", p.n, p.total)
	}
	if p.total > 0 {
		s += fmt.Sprintf(" (%d%%)", p.n*100/p.total)
	}
	fmt.Fprintf(p.w, "%s: %s\n", p.desc, s)
}

// byteCount formats n bytes for people: 512 B, 1.5 KiB, 12.0 MiB.
func byteCount(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// progressReaderAt counts the bytes read through it towards a progress.
type progressReaderAt struct {
	r io.ReaderAt
	p progress

	mu   sync.Mutex
	read int64
}

func (r *progressReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(b, off)
	r.mu.Lock()
	r.read += int64(n)
	read := r.read
	r.mu.Unlock()
	r.p.set(read)
	return n, err
}
