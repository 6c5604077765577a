// Package throttle holds the limits on what a stranger may make the
// server do: logins, sign-ups, password hashing and the per-source budget
// of credential guesses (setup tokens, agent enrolment and challenges).
package throttle

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/ratelimit"
	"github.com/nuxari/nuxari/internal/netsource"
	"github.com/nuxari/nuxari/internal/secret"
)

// What a stranger may make the server do (DESIGN.md,
// "Strangers cost nothing"), and why none of it can lock out a user.
//
// Password hashes. Every Argon2id hash and verification (sign-up, new
// members, logins, and the dummy verification of a login for an unknown
// org or email) runs in one password.Hasher, whose memory budget
// (Config.PasswordMemoryBudget) bounds the memory of the hashes running
// at once; at most 64 wait for room, for at most 10 s, and the rest are
// refused (ErrRateLimited). A sign-up hashes only after every cheap check
// has passed: the fields, the password's length, the org ID being free
// and the sign-up limits.
//
// Logins. Sources are keyed by address: an IPv4 address, or the /64 of an
// IPv6 address (one host's usual allocation). An attempt passes, in order:
//
//  1. the budget of its account and source (LoginBurst, refilling at
//     LoginRate): when spent, attempts for that account from that source
//     are refused;
//  2. the budget of its source across accounts (the same size): when
//     spent, attempts from that source are refused;
//  3. the failure count of its account across all sources, which never
//     refuses: past LoginBurst recent failures each attempt is delayed,
//     from 250 ms doubling with each further failure up to LoginDelayMax
//     (4 s), while the caller's context lasts.
//
// Every admitted attempt counts as a failure until its password is
// verified. A success gives back what it spent: its account-and-source
// budget starts again in full (the caller knows the password), and its
// source budget and account count get back the one attempt, so successes
// cost nothing and never buy more guesses. A refused attempt spends
// nothing further and is not audited.
//
// So a stranger guessing from one source spends that source's budgets
// and nobody else's: the real user, from any other source, is at most
// delayed, never refused. Guessing from many sources buys each source one
// burst for the account, at a growing delay.
//
// Sign-ups are limited per source (SignupBurst, refilling at SignupRate)
// and across all sources (SignupGlobalBurst at SignupGlobalRate), spent by
// each sign-up that is about to hash; a taken org ID is answered before.
//
// Memory. Each limit holds at most LimiterKeys keys (accounts are held as
// 16-byte hashes). A key whose bucket has refilled is dropped; a key still
// refilling is never dropped to make room, so churning through sources or
// accounts cannot reset a limited key. When a limit is full of keys still
// refilling, a new key is refused (sign-up, login) or delayed the most
// (the account failure count) until one refills: keeping a limit full
// takes about LimiterKeys events per refill interval from as many
// distinct sources or accounts.

// Throttling constants; see above.
const (
	loginDelayBase = 250 * time.Millisecond
	// loginDelayHeadroom is how many failures beyond LoginBurst an
	// account's count holds; the delay reaches its maximum well before.
	loginDelayHeadroom = 32
)

// Config configures a Throttle; every field must be set (the wiring
// package's defaults).
type Config struct {
	Clock                          func() time.Time
	Sleep                          func(context.Context, time.Duration) error
	PasswordParams                 password.Params
	PasswordMemoryBudget           int64
	LoginRate                      rate.Limit
	LoginBurst                     int
	LoginDelayMax                  time.Duration
	SignupRate, SignupGlobalRate   rate.Limit
	SignupBurst, SignupGlobalBurst int
	LimiterKeys                    int
}

// Throttle holds the limits on logins, sign-ups and password hashing.
type Throttle struct {
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	hasher *password.Hasher

	loginPair    *ratelimit.Limiter // per account and source: refuses
	loginSource  *ratelimit.Limiter // per source: refuses
	loginAccount *ratelimit.Limiter // per account: delays
	freeFailures int
	delayMax     time.Duration

	signupSource *ratelimit.Limiter
	signupGlobal *ratelimit.Limiter

	refused [refusalKinds]atomic.Uint64
}

// The kinds of refusal Refused counts.
const (
	RefusedLogin  = iota // a login (or password change) attempt
	RefusedSignup        // a sign-up
	RefusedGuess         // a guess of a setup token, join token or agent challenge
	RefusedBusy          // a password hash or verification: the hasher was full
	refusalKinds
)

// Refused returns how many attempts of kind (RefusedLogin, …) the
// throttle has refused since it started.
func (t *Throttle) Refused(kind int) uint64 { return t.refused[kind].Load() }

// New returns a Throttle with cfg's limits.
func New(cfg Config) *Throttle {
	keys := cfg.LimiterKeys
	if cfg.Sleep == nil {
		cfg.Sleep = Sleep
	}
	return &Throttle{
		now:   cfg.Clock,
		sleep: cfg.Sleep,
		hasher: password.NewHasher(password.HasherConfig{
			Params:       cfg.PasswordParams,
			MemoryBudget: cfg.PasswordMemoryBudget,
		}),
		loginPair:    ratelimit.New(cfg.LoginRate, cfg.LoginBurst, keys),
		loginSource:  ratelimit.New(cfg.LoginRate, cfg.LoginBurst, keys),
		loginAccount: ratelimit.New(cfg.LoginRate, cfg.LoginBurst+loginDelayHeadroom, keys),
		freeFailures: cfg.LoginBurst,
		delayMax:     cfg.LoginDelayMax,
		signupSource: ratelimit.New(cfg.SignupRate, cfg.SignupBurst, keys),
		signupGlobal: ratelimit.New(cfg.SignupGlobalRate, cfg.SignupGlobalBurst, 1),
	}
}

// Sleep waits d, or until ctx ends, returning its error: the default
// wait of the login delay.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SourceKey is the key of a source address (netsource.Key).
func SourceKey(src string) string { return netsource.Key(src) }

// accountKey is the key of an account: a hash, so keys are short whatever
// the email.
func accountKey(orgID, email string) string {
	h := sha256.Sum256([]byte(orgID + "\x00" + email))
	return string(h[:16])
}

var errLoginThrottled = errs.New(errs.RateLimited, "too many failed logins from this address; wait and retry")

// LoginAttempt is an admitted login attempt. It counts as a failure
// unless Succeeded is called.
type LoginAttempt struct {
	t                     *Throttle
	pair, source, account string
}

// AdmitLogin admits a login attempt for email in orgID from the source
// in ctx's RequestInfo, or refuses it, and delays it while the account is
// under guessing.
func (t *Throttle) AdmitLogin(ctx context.Context, orgID, email string) (*LoginAttempt, error) {
	acct := accountKey(orgID, email)
	src := SourceKey(core.RequestInfoFrom(ctx).Source)
	a := &LoginAttempt{t: t, pair: acct + "\x00" + src, source: src, account: acct}
	now := t.now()
	if !t.loginPair.AllowAt(a.pair, now) {
		t.refused[RefusedLogin].Add(1)
		return nil, errLoginThrottled
	}
	if !t.loginSource.AllowAt(src, now) {
		t.loginPair.RefundAt(a.pair, now)
		t.refused[RefusedLogin].Add(1)
		return nil, errLoginThrottled
	}
	if d := t.loginDelay(t.loginAccount.TakeAt(acct, now)); d > 0 {
		if err := t.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// loginDelay is the delay of an attempt on an account whose failure count,
// with this attempt, is level; ok is false when the count is full or the
// account could not be counted.
func (t *Throttle) loginDelay(level float64, ok bool) time.Duration {
	if !ok {
		return t.delayMax
	}
	over := int(level-1) - t.freeFailures // earlier failures beyond the free ones
	if over < 0 {
		return 0
	}
	d := loginDelayBase << min(over, 16)
	return min(d, t.delayMax)
}

// Succeeded gives back what the attempt spent: see the policy above.
func (a *LoginAttempt) Succeeded() {
	now := a.t.now()
	a.t.loginPair.Forget(a.pair)
	a.t.loginSource.RefundAt(a.source, now)
	a.t.loginAccount.RefundAt(a.account, now)
}

// AdmitSignup spends the sign-up budgets of the source in ctx's
// RequestInfo and of all sources, or refuses.
func (t *Throttle) AdmitSignup(ctx context.Context) error {
	src := SourceKey(core.RequestInfoFrom(ctx).Source)
	now := t.now()
	if !t.signupSource.AllowAt(src, now) {
		t.refused[RefusedSignup].Add(1)
		return errs.New(errs.RateLimited, "too many sign-ups from this address; wait and retry")
	}
	if !t.signupGlobal.AllowAt("", now) {
		t.signupSource.RefundAt(src, now)
		t.refused[RefusedSignup].Add(1)
		return errs.New(errs.RateLimited, "too many sign-ups; wait and retry")
	}
	return nil
}

// Hash, Verify and DummyVerify run the hasher, refusing with
// errs.RateLimited when it is busy.
func (t *Throttle) Hash(ctx context.Context, pw string) (string, error) {
	h, err := t.hasher.Hash(ctx, pw)
	return h, t.busy(err)
}

func (t *Throttle) Verify(ctx context.Context, pw secret.String, encoded string) (bool, error) {
	ok, err := t.hasher.Verify(ctx, pw.Reveal(), encoded)
	return ok, t.busy(err)
}

func (t *Throttle) DummyVerify(ctx context.Context, pw secret.String) error {
	return t.busy(t.hasher.DummyVerify(ctx, pw.Reveal()))
}

func (t *Throttle) busy(err error) error {
	if errors.Is(err, password.ErrBusy) {
		t.refused[RefusedBusy].Add(1)
		return errs.Wrap(errs.RateLimited, err, "%s", errs.RateLimited.Message())
	}
	return err
}

// HashNew validates and hashes a new password (field names it in an
// error), within the memory budget of password hashes.
func (t *Throttle) HashNew(ctx context.Context, field string, p secret.String) (string, error) {
	if err := core.ValidatePassword(field, p); err != nil {
		return "", err
	}
	return t.Hash(ctx, p.Reveal())
}

// AllowGuess spends one of the budget of the source in ctx's RequestInfo
// for guesses of kind ("setup", "enroll", "agent"), a budget shared with
// logins from that source; it reports whether the guess may go ahead.
func (t *Throttle) AllowGuess(ctx context.Context, kind string) bool {
	if !t.loginSource.AllowAt(guessKey(ctx, kind), t.now()) {
		t.refused[RefusedGuess].Add(1)
		return false
	}
	return true
}

// RefundGuess gives back a guess AllowGuess admitted: it was right.
func (t *Throttle) RefundGuess(ctx context.Context, kind string) {
	t.loginSource.RefundAt(guessKey(ctx, kind), t.now())
}

func guessKey(ctx context.Context, kind string) string {
	return kind + "\x00" + SourceKey(core.RequestInfoFrom(ctx).Source)
}
