package password

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// ErrBusy: a Hasher refused to queue a hash, or gave up waiting for room
// in its memory budget.
var ErrBusy = errors.New("password: too many passwords are being checked; retry shortly")

// Defaults of HasherConfig.
const (
	DefaultMemoryBudget = 256 << 20 // bytes: four hashes of DefaultParams
	DefaultMaxQueue     = 64
	DefaultMaxWait      = 10 * time.Second
)

// HasherConfig configures a Hasher. Zero values are working defaults.
type HasherConfig struct {
	// Params are the parameters of new hashes (default DefaultParams;
	// zero fields are taken from it).
	Params Params
	// MemoryBudget bounds, in bytes, the Argon2id memory of the hashes
	// running at once (default DefaultMemoryBudget). Each hash holds its
	// memory cost m from the budget while it runs; one whose m exceeds the
	// whole budget runs alone.
	MemoryBudget int64
	// MaxQueue is how many hashes may wait for room in the budget (default
	// DefaultMaxQueue); one more is refused at once with ErrBusy.
	MaxQueue int
	// MaxWait is how long a hash waits for room before it is refused with
	// ErrBusy (default DefaultMaxWait).
	MaxWait time.Duration
}

// A Hasher hashes and verifies passwords, as Hash and Verify do, under a
// memory budget: the Argon2id memory of the hashes it runs at once never
// exceeds HasherConfig.MemoryBudget, so a crowd of concurrent logins or
// sign-ups costs at most that much memory, not one hash's memory each.
// Hashes beyond the budget wait their turn, first come first served, in a
// queue of bounded length for a bounded time, and give up when their
// context ends. A Hasher is safe for concurrent use; make one with
// NewHasher.
type Hasher struct {
	params   Params
	budget   uint64 // KiB
	maxQueue int
	maxWait  time.Duration

	mu      sync.Mutex
	used    uint64    // KiB held by running hashes
	waiters list.List // of *waiter, first come first
	idKey   func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

type waiter struct {
	kib   uint64
	ready chan struct{} // closed when granted
}

// NewHasher returns a Hasher configured by c. Its Hash refuses Params
// outside the bounds the package's Hash enforces, as that does.
func NewHasher(c HasherConfig) *Hasher {
	p := c.Params.withDefaults()
	if c.MemoryBudget <= 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = DefaultMaxQueue
	}
	if c.MaxWait <= 0 {
		c.MaxWait = DefaultMaxWait
	}
	return &Hasher{
		params:   p,
		budget:   max(1, uint64(c.MemoryBudget)/1024),
		maxQueue: c.MaxQueue,
		maxWait:  c.MaxWait,
		idKey:    argon2.IDKey,
	}
}

// Concurrency returns how many hashes with the Hasher's parameters run at
// once: the memory budget over their memory cost, at least 1.
func (h *Hasher) Concurrency() int {
	return int(max(1, h.budget/uint64(h.params.Memory)))
}

// Hash is the package's Hash with the Hasher's parameters, run within
// its memory budget.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.params.check(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	salt, err := newSalt(h.params)
	if err != nil {
		return "", err
	}
	key, err := h.run(ctx, password, h.params, salt)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify is the package's Verify, run within the memory budget. The
// parameters stored in encoded decide the memory it holds.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got, err := h.run(ctx, password, p, salt)
	if err != nil {
		return false, err
	}
	return constantTimeEqual(got, key), nil
}

// DummyVerify does the work of a Verify against a hash made with the
// Hasher's parameters, within the memory budget, and discards the result:
// see the package's DummyVerify. It returns only the errors of waiting.
func (h *Hasher) DummyVerify(ctx context.Context, password string) error {
	_, err := h.run(ctx, password, h.params, make([]byte, h.params.SaltLen))
	return err
}

// run computes the Argon2id tag of password under p once the budget has
// room for p's memory.
func (h *Hasher) run(ctx context.Context, password string, p Params, salt []byte) ([]byte, error) {
	kib := min(uint64(p.Memory), h.budget)
	if err := h.acquire(ctx, kib); err != nil {
		return nil, err
	}
	defer h.release(kib)
	return h.idKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen), nil
}

// acquire takes kib (at most the budget) from the budget, waiting in
// turn while the queue is shorter than maxQueue, for at most maxWait and
// while ctx lasts.
func (h *Hasher) acquire(ctx context.Context, kib uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	if h.waiters.Len() == 0 && h.used+kib <= h.budget {
		h.used += kib
		h.mu.Unlock()
		return nil
	}
	if h.waiters.Len() >= h.maxQueue {
		h.mu.Unlock()
		return ErrBusy
	}
	w := &waiter{kib: kib, ready: make(chan struct{})}
	el := h.waiters.PushBack(w)
	h.mu.Unlock()

	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = ErrBusy
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-w.ready:
		// Granted while giving up: hand the memory on.
		h.used -= kib
		h.grant()
	default:
		front := h.waiters.Front() == el
		h.waiters.Remove(el)
		if front {
			h.grant()
		}
	}
	return err
}

func (h *Hasher) release(kib uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.used -= kib
	h.grant()
}

// grant admits waiters, in order, while the budget has room for the
// first.
func (h *Hasher) grant() {
	for el := h.waiters.Front(); el != nil; el = h.waiters.Front() {
		w := el.Value.(*waiter)
		if h.used+w.kib > h.budget {
			return
		}
		h.used += w.kib
		h.waiters.Remove(el)
		close(w.ready)
	}
}
