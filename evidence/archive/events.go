package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
)

// Reading events.jsonl is a pipeline: one goroutine reads the file and
// cuts it into chunks of whole records, GOMAXPROCS workers parse and hash
// the records of a chunk, and the caller consumes the results in file
// order (the leafSource of the multiproof), checking each event.

// chunkSize is the size of the buffers events.jsonl is read into.
const chunkSize = 256 << 10

// chunk is a run of whole records of events.jsonl.
type chunk struct {
	data      []byte
	ends      []int   // offset in data of the newline ending each record
	firstLine int64   // line of events.jsonl where the first record starts
	inner     []inner // records that contain newlines, in order
	res       []result
	done      chan struct{}
}

// inner counts the newlines inside record rec of a chunk (JSON whitespace
// inside a non-canonical event).
type inner struct {
	rec int
	n   int64
}

// line returns the line of events.jsonl where record i starts.
func (c *chunk) line(i int) int64 {
	l := c.firstLine + int64(i)
	for _, in := range c.inner {
		if in.rec >= i {
			break
		}
		l += in.n
	}
	return l
}

// result is one parsed record.
type result struct {
	hash       [hashSize]byte
	index      uint64
	time       time.Time
	org        string // the leaf's org when it is not the package's
	typ        string
	subject    string
	hasType    bool
	hasSubject bool
	err        error
	// event is a copy of the leaf's event, for Options.Events, when the
	// pipeline keeps it.
	event []byte
}

// framer finds the records of events.jsonl: each is one JSON object
// followed by a newline; a newline inside a string or nested inside the
// object does not end it.
type framer struct {
	pos      int // next byte to scan
	recStart int // start of the current record
	inStr    bool
	depth    int
	inner    int64 // newlines in the current record
	line     int64 // line where the current record starts
}

// scan scans buf[f.pos:] and appends the records that end in it to c.
func (f *framer) scan(buf []byte, c *chunk) {
	i, end := f.pos, len(buf)
	for i < end {
		if f.inStr {
			j := bytes.IndexByte(buf[i:end], '"')
			if j < 0 {
				i = end
				break
			}
			q := i + j
			bs := 0
			for k := q - 1; k >= f.recStart && buf[k] == '\\'; k-- {
				bs++
			}
			i = q + 1
			if bs%2 == 0 {
				f.inStr = false
			}
			continue
		}
		switch buf[i] {
		case '"':
			f.inStr = true
		case '{', '[':
			f.depth++
		case '}', ']':
			f.depth--
		case '\n':
			if f.depth > 0 {
				f.inner++
				break
			}
			c.ends = append(c.ends, i)
			if f.inner > 0 {
				c.inner = append(c.inner, inner{len(c.ends) - 1, f.inner})
			}
			f.line += 1 + f.inner
			f.inner, f.depth, f.recStart = 0, 0, i+1
		}
		i++
	}
	f.pos = i
}

// pipeline verifies the records of events.jsonl in parallel.
type pipeline struct {
	r       io.Reader
	wantSHA string
	org     string
	stop    chan struct{}
	jobs    chan *chunk
	order   chan *chunk
	wg      sync.WaitGroup
	bufs    sync.Pool
	chunks  sync.Pool
	// err, written before order is closed, is the failure after the last
	// complete record.
	err *Failure
	// keep, when set, says which events to copy for Options.Events.
	keep func(typ string, hasType bool) bool
}

func startPipeline(r io.Reader, wantSHA, org string, keep func(typ string, hasType bool) bool) *pipeline {
	workers := runtime.GOMAXPROCS(0)
	p := &pipeline{
		r:       r,
		wantSHA: wantSHA,
		org:     org,
		keep:    keep,
		stop:    make(chan struct{}),
		jobs:    make(chan *chunk, 2*workers),
		order:   make(chan *chunk, 4*workers),
	}
	p.bufs.New = func() any { b := make([]byte, chunkSize); return &b }
	p.chunks.New = func() any { return &chunk{} }
	p.wg.Go(p.read)
	for range workers {
		p.wg.Go(p.work)
	}
	return p
}

// close stops the pipeline and waits for its goroutines.
func (p *pipeline) close() {
	close(p.stop)
	p.wg.Wait()
}

func (p *pipeline) newChunk(line int64) *chunk {
	c := p.chunks.Get().(*chunk)
	*c = chunk{ends: c.ends[:0], inner: c.inner[:0], res: c.res[:0], firstLine: line, done: make(chan struct{})}
	return c
}

// recycle returns a consumed chunk.
func (p *pipeline) recycle(c *chunk) {
	c.data = nil
	p.chunks.Put(c)
}

func (p *pipeline) send(c *chunk) bool {
	select {
	case p.order <- c:
	case <-p.stop:
		return false
	}
	select {
	case p.jobs <- c:
		return true
	case <-p.stop:
		return false
	}
}

func (p *pipeline) fail(line int64, format string, args ...any) {
	p.err = &Failure{Check: CheckEvents, File: FileEvents, Line: line, Index: -1, Reason: fmt.Sprintf(format, args...)}
}

// read cuts events.jsonl into chunks of whole records.
func (p *pipeline) read() {
	defer close(p.order)
	defer close(p.jobs)
	h := sha256.New()
	buf := *p.bufs.Get().(*[]byte)
	filled := 0
	f := framer{line: 1}
	c := p.newChunk(1)
	for {
		n, err := io.ReadFull(p.r, buf[filled:])
		h.Write(buf[filled : filled+n])
		filled += n
		f.scan(buf[:filled], c)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			switch {
			case hex.EncodeToString(h.Sum(nil)) != p.wantSHA:
				p.fail(0, "the file changed while it was verified")
			case f.recStart < filled:
				p.fail(f.line, "the last record does not end with a newline")
			}
			if len(c.ends) > 0 {
				c.data = buf[:f.recStart]
				p.send(c)
			}
			return
		}
		if err != nil {
			p.fail(f.line, "read: %v", err)
			return
		}
		// The buffer is full.
		if f.recStart == 0 {
			if filled > MaxRecordSize {
				p.fail(f.line, "record longer than %d bytes", MaxRecordSize)
				return
			}
			nb := make([]byte, 2*len(buf))
			copy(nb, buf)
			buf = nb
			continue
		}
		c.data = buf[:f.recStart]
		if !p.send(c) {
			return
		}
		var nb []byte
		if rest := filled - f.recStart; rest < chunkSize/2 {
			nb = *p.bufs.Get().(*[]byte)
		} else {
			nb = make([]byte, max(chunkSize, 2*rest))
		}
		filled = copy(nb, buf[f.recStart:filled])
		f.pos -= f.recStart
		f.recStart = 0
		buf = nb
		c = p.newChunk(f.line)
	}
}

// work parses and hashes the records of chunks.
func (p *pipeline) work() {
	h := sha256.New()
	var sum []byte
	for c := range p.jobs {
		select {
		case <-p.stop:
			close(c.done)
			continue
		default:
		}
		start := 0
		for _, e := range c.ends {
			b := c.data[start:e]
			start = e + 1
			c.res = append(c.res, result{})
			r := &c.res[len(c.res)-1]
			if len(b) > MaxRecordSize {
				r.err = fmt.Errorf("record longer than %d bytes", MaxRecordSize)
				continue
			}
			l, err := leaf.Parse(b)
			if err != nil {
				r.err = err
				continue
			}
			r.index, r.time = l.Index, l.Time
			if l.Org != p.org {
				r.org = l.Org
			}
			r.typ, r.hasType, r.subject, r.hasSubject = eventMembers(l.Event)
			if p.keep != nil && p.keep(r.typ, r.hasType) {
				// The chunk's buffer is reused once the chunk is parsed.
				r.event = bytes.Clone(l.Event)
			}
			h.Reset()
			h.Write([]byte{0})
			h.Write(b)
			sum = h.Sum(sum[:0])
			copy(r.hash[:], sum)
		}
		if cap(c.data) == chunkSize {
			b := c.data[:chunkSize]
			p.bufs.Put(&b)
		}
		c.data = nil
		close(c.done)
	}
}

// eventStream is the checked leaves of events.jsonl, in order: the
// leafSource of the multiproof.
type eventStream struct {
	p        *pipeline
	treeSize uint64
	match    *matcher
	cur      *chunk
	pos      int
	have     bool
	next     uint64
	hash     [hashSize]byte
	ended    bool
	fail     *Failure
	summary  Summary
	types    map[string]uint64
	// onEvent, when set, receives the events the pipeline keeps, once
	// checked.
	onEvent func(Event)
}

func (s *eventStream) peek() (uint64, bool, error) {
	if s.fail != nil {
		return 0, false, s.fail
	}
	if s.have {
		return s.next, true, nil
	}
	if s.ended {
		return 0, false, nil
	}
	for s.cur == nil || s.pos == len(s.cur.res) {
		if s.cur != nil {
			s.p.recycle(s.cur)
			s.cur = nil
		}
		c, ok := <-s.p.order
		if !ok {
			s.ended = true
			if s.p.err != nil {
				s.fail = s.p.err
				return 0, false, s.fail
			}
			return 0, false, nil
		}
		<-c.done
		s.cur, s.pos = c, 0
	}
	r := &s.cur.res[s.pos]
	line := s.cur.line(s.pos)
	s.pos++
	if reason := s.check(r); reason != "" {
		idx := int64(r.index)
		if r.err != nil {
			idx = -1
		}
		s.fail = &Failure{Check: CheckEvents, File: FileEvents, Line: line, Index: idx, Reason: reason, Err: r.err}
		return 0, false, s.fail
	}
	s.summary.add(r.index, r.time)
	s.types[r.typ]++
	if s.onEvent != nil && r.event != nil {
		s.onEvent(Event{Index: r.index, Line: line, Time: r.time, Type: r.typ, JSON: r.event})
	}
	s.have, s.next, s.hash = true, r.index, r.hash
	return r.index, true, nil
}

// check returns why the event r fails, or "".
func (s *eventStream) check(r *result) string {
	switch {
	case r.err != nil:
		return "not a canonical leaf: " + r.err.Error()
	case r.org != "":
		return fmt.Sprintf("the leaf names org %q, the package is for org %q", r.org, s.p.org)
	case s.summary.Count > 0 && r.index == s.summary.LastIndex:
		return fmt.Sprintf("index %d repeats the previous event's index (duplicate event)", r.index)
	case s.summary.Count > 0 && r.index < s.summary.LastIndex:
		return fmt.Sprintf("index %d follows index %d (events out of order)", r.index, s.summary.LastIndex)
	case r.index >= s.treeSize:
		return fmt.Sprintf("index %d is not below the tree size %d", r.index, s.treeSize)
	}
	return s.match.check(r.time, r.typ, r.hasType, r.subject, r.hasSubject)
}

func (s *eventStream) take() [hashSize]byte {
	s.have = false
	return s.hash
}

// drain checks the rest of the events.
func (s *eventStream) drain() *Failure {
	for {
		_, ok, _ := s.peek()
		if s.fail != nil {
			return s.fail
		}
		if !ok {
			return nil
		}
		s.take()
	}
}
