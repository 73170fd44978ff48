package syncer

import (
	"sync"
	"time"
)

// Clock is the service's time: ticks, the group-commit timer, and the
// times it records (connected since, when a peer last completed a frame).
// RealClock is the wall clock; tests use a FakeClock and step it.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
	NewTimer(d time.Duration) Timer
}

// Ticker delivers ticks on C until stopped.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Timer delivers one time on C once its duration has passed, unless stopped
// first; Reset arms it again.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time { return t.t.C }
func (t realTicker) Stop()               { t.t.Stop() }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }

// FakeClock is a clock that moves only when told (Advance). A tick is
// handed over synchronously: Advance returns once every ticker that was
// due has been read (or stopped), so that what a test does next comes
// after the service took the tick.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
	timers  []*fakeTimer
}

// NewFakeClock returns a fake clock at an arbitrary fixed time.
func NewFakeClock() *FakeClock {
	return &FakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Now is the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the time on by d, firing what fell due: each due ticker
// once (like time.Ticker, missed ticks are dropped), each due timer.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due []*fakeTicker
	for _, t := range c.tickers {
		if !t.stopped && !now.Before(t.next) {
			due = append(due, t)
			for !now.Before(t.next) {
				t.next = t.next.Add(t.period)
			}
		}
	}
	for _, t := range c.timers {
		if t.armed && !now.Before(t.at) {
			t.armed = false
			select {
			case t.c <- now:
			default:
			}
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		select {
		case t.c <- now:
		case <-t.stop:
		}
	}
}

func (c *FakeClock) NewTicker(d time.Duration) Ticker {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{clock: c, c: make(chan time.Time), stop: make(chan struct{}), period: d, next: c.now.Add(d)}
	c.tickers = append(c.tickers, t)
	return t
}

func (c *FakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, c: make(chan time.Time, 1), at: c.now.Add(d), armed: true}
	c.timers = append(c.timers, t)
	return t
}

type fakeTicker struct {
	clock   *FakeClock
	c       chan time.Time
	stop    chan struct{}
	period  time.Duration
	next    time.Time
	stopped bool
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }

func (t *fakeTicker) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		close(t.stop)
	}
}

type fakeTimer struct {
	clock *FakeClock
	c     chan time.Time
	at    time.Time
	armed bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.at, t.armed = t.clock.now.Add(d), true
}

func (t *fakeTimer) Stop() {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	t.armed = false
}
