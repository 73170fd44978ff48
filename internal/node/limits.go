package node

import (
	"golang.org/x/time/rate"

	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Registration is who may register a new vault with a node. Vaults
// registered already are served whatever it is.
type Registration int

// Registration policies.
const (
	// RegistrationOpen: any device, within the node's limits (the vaults
	// it holds, and how many new ones a device and the node take a time).
	RegistrationOpen Registration = iota
	// RegistrationInvite: a device that presents the node's invite token
	// (and within the same limits).
	RegistrationInvite
	// RegistrationClosed: none.
	RegistrationClosed
)

var registrationNames = []string{"open", "invite", "closed"}

func (r Registration) String() string {
	if int(r) < len(registrationNames) {
		return registrationNames[r]
	}
	return fmt.Sprintf("Registration(%d)", int(r))
}

// ParseRegistration reads "open", "invite" or "closed".
func ParseRegistration(s string) (Registration, error) {
	for i, n := range registrationNames {
		if s == n {
			return Registration(i), nil
		}
	}
	return 0, fmt.Errorf("registration %q: want open, invite or closed", s)
}

// Rate is a token bucket: Burst at once, then one every Every.
type Rate struct {
	Burst int
	Every time.Duration
}

// Defaults. A device registers its vault once; a person sets up a few
// devices, each its own registration of a vault already there (free). So
// a device gets 2 new vaults at once, then one per 10 minutes, and the
// node 20 at once, then 2 a minute: a stranger with any number of keys
// fills at most 2,880 a day, within the limit on vaults.
var (
	DefaultMaxVaults = 1000
	DefaultPerDevice = Rate{Burst: 2, Every: 10 * time.Minute}
	DefaultPerNode   = Rate{Burst: 20, Every: 30 * time.Second}
	DefaultIdleAfter = time.Minute
)

// Options are a node's policy and limits; zero values are the defaults.
type Options struct {
	Registration Registration
	// Invite is the token a device presents to register a new vault
	// under RegistrationInvite (`mycel nodes add ADDR --invite TOKEN`).
	Invite string
	// MaxVaults bounds the registered vaults.
	MaxVaults int
	// PerDevice bounds the new vaults one device key registers, PerNode
	// those the node registers in all, over time.
	PerDevice, PerNode Rate
	// IdleAfter is how long a vault with no connection stays open (its
	// store and sync service) before it is closed.
	IdleAfter time.Duration
	// Quota bounds the sealed chunk bytes one vault keeps here (0: no
	// limit); a Put past it is refused with QuotaReason. Changes are never
	// refused for it: text keeps syncing.
	Quota int64
	// ChunkRate bounds the bytes a second one chunk stream sends or
	// fetches (0: no limit): an operator's choice, and how tests catch an upload midway.
	ChunkRate int64
	// ChunkGrace is how long a chunk no stored or parked change names is
	// kept before it is collected (0: DefaultChunkGrace; negative: never
	// collected). At least MinChunkGrace. See gc.go.
	ChunkGrace time.Duration
	// ChunkSweepEvery is how often Serve runs a step of collection
	// (0: DefaultChunkSweepEvery).
	ChunkSweepEvery time.Duration
	// Now is the clock (nil: the wall clock): of registrations, and of
	// chunks' ages (it stamps each chunk stored or put again).
	Now func() time.Time
}

func (o Options) chunkRate() rate.Limit {
	if o.ChunkRate <= 0 {
		return 0
	}
	return rate.Limit(o.ChunkRate)
}

func (o Options) withDefaults() Options {
	if o.MaxVaults == 0 {
		o.MaxVaults = DefaultMaxVaults
	}
	if o.PerDevice == (Rate{}) {
		o.PerDevice = DefaultPerDevice
	}
	if o.PerNode == (Rate{}) {
		o.PerNode = DefaultPerNode
	}
	if o.IdleAfter == 0 {
		o.IdleAfter = DefaultIdleAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ChunkGrace == 0 {
		o.ChunkGrace = DefaultChunkGrace
	}
	if o.ChunkSweepEvery == 0 {
		o.ChunkSweepEvery = DefaultChunkSweepEvery
	}
	return o
}

func (o Options) check() error {
	switch {
	case o.Registration == RegistrationInvite && len(o.Invite) < 16:
		return errors.New("invite registration needs an invite token of at least 16 characters")
	case o.Quota < 0:
		return errors.New("a vault's quota cannot be negative (0: no limit)")
	case o.ChunkRate < 0:
		return errors.New("the chunk rate cannot be negative (0: no limit)")
	case o.ChunkGrace > 0 && o.ChunkGrace < MinChunkGrace:
		return fmt.Errorf("a chunk grace period of %v is too short: a change that comes a little after its chunks would find them gone; give at least %v", o.ChunkGrace, MinChunkGrace)
	case o.ChunkSweepEvery < 0:
		return errors.New("the chunk sweep period must be positive")
	case o.MaxVaults < 0:
		return errors.New("the limit of vaults must be positive")
	case o.PerDevice.Burst < 1 || o.PerDevice.Every <= 0 || o.PerNode.Burst < 1 || o.PerNode.Every <= 0:
		return errors.New("registration rates need a burst of at least 1 and a positive period")
	}
	return nil
}

// maxPeerBuckets bounds the per-device buckets kept: past it, those full
// again (no different from a new one) are forgotten.
const maxPeerBuckets = 1 << 14

// registrar decides whether a new vault may be registered.
type registrar struct {
	opts Options
	mu   sync.Mutex
	node bucket
	peer map[string]*bucket
}

func newRegistrar(opts Options) *registrar {
	now := opts.Now()
	return &registrar{opts: opts, node: bucket{tokens: float64(opts.PerNode.Burst), at: now}, peer: map[string]*bucket{}}
}

// allow says why a new vault may not be registered now (nil: it may),
// for peer (a device key; "" for the node's own code, which no rate
// limits) with invite, while the node holds count vaults.
func (r *registrar) allow(peer string, count int, invite string) error {
	switch r.opts.Registration {
	case RegistrationClosed:
		return errors.New("this node accepts no new vaults: registration is closed (its operator can start it with --registration open or invite)")
	case RegistrationInvite:
		if invite == "" {
			return errors.New("this node registers new vaults by invitation only: ask its operator for the invite token it printed, then run 'mycel nodes add ADDR --invite TOKEN'")
		}
		if subtle.ConstantTimeCompare([]byte(invite), []byte(r.opts.Invite)) != 1 {
			return errors.New("the invite token is not this node's: ask its operator for the token 'mycel node' printed (kept in invite.token in its data folder)")
		}
	}
	if count >= r.opts.MaxVaults {
		return fmt.Errorf("this node accepts no new vaults: its limit of %d vaults is reached (its operator can raise it with --max-vaults)", r.opts.MaxVaults)
	}
	if peer == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	if b := r.peer[peer]; b != nil {
		if wait := b.wait(r.opts.PerDevice, now); wait > 0 {
			return fmt.Errorf("this device registered %d new vaults with this node already: try again in %s", r.opts.PerDevice.Burst, roundUp(wait))
		}
	}
	if wait := r.node.wait(r.opts.PerNode, now); wait > 0 {
		return fmt.Errorf("this node registers at most %d new vaults at once, then one every %s, and is at that limit: try again in %s", r.opts.PerNode.Burst, r.opts.PerNode.Every, roundUp(wait))
	}
	return nil
}

// take spends the tokens of a registration allow let through.
func (r *registrar) take(peer string) {
	if peer == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	r.node.take(r.opts.PerNode, now)
	b := r.peer[peer]
	if b == nil {
		if len(r.peer) >= maxPeerBuckets {
			for k, o := range r.peer {
				if o.wait(r.opts.PerDevice, now) == 0 && o.tokens >= float64(r.opts.PerDevice.Burst) {
					delete(r.peer, k)
				}
			}
		}
		b = &bucket{tokens: float64(r.opts.PerDevice.Burst), at: now}
		r.peer[peer] = b
	}
	b.take(r.opts.PerDevice, now)
}

func roundUp(d time.Duration) time.Duration { return d.Truncate(time.Second) + time.Second }

// bucket is a token bucket's state.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) refill(r Rate, now time.Time) {
	if now.After(b.at) {
		b.tokens = math.Min(float64(r.Burst), b.tokens+float64(now.Sub(b.at))/float64(r.Every))
		b.at = now
	}
}

// wait is how long until a token is there (0: now).
func (b *bucket) wait(r Rate, now time.Time) time.Duration {
	b.refill(r, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(r.Every))
}

func (b *bucket) take(r Rate, now time.Time) {
	b.refill(r, now)
	b.tokens--
}
