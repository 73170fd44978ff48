package device

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"mycel/internal/files"
	"mycel/internal/objsync"
	"mycel/internal/vault"
)

// "Keep offline": the files of the pages this device keeps (the engine's
// Offline setting, `mycel files keep`) are fetched eagerly, whatever their
// size, unlike an opened page's (WantPage, up to wantPageMax). Two
// workers run passes over them: one for small files, one for large, so a
// photo never waits for a film. A pass runs at start, when the setting
// may have changed (a poke), when changes arrive (they may add files to a
// kept page), and when a node or a device nearby connects. A file no
// connected peer holds yet waits before it is tried again (doubling, from
// keepRetryMin to keepRetryMax), unless a peer connects meanwhile: a
// vault whose files are nowhere costs nothing while it waits.

const (
	keepRetryMin = 30 * time.Second
	keepRetryMax = 10 * time.Minute
	// keepLook: how often the device looks whether a new peer is
	// connected (the sync service has no event for it; the look is a
	// copy of a small map).
	keepLook = time.Second
	// keepGap: passes of a worker start at least this far apart, so a
	// burst of changes received costs one pass, not one each.
	keepGap = time.Second
)

// keeper is the device's part of keep offline, and the record of the
// downloads under way (of every kind: kept, opened, asked for), for
// status.
type keeper struct {
	wake chan struct{} // buffered 1: look again (Poke)

	mu     sync.Mutex
	active map[string]*download // by file id
	failed map[string]*keepFailure
}

type download struct {
	m    *files.Manifest
	done chan struct{} // closed when it ends
}

// keepFailure is a kept file no peer could give: tried again at next.
type keepFailure struct {
	next  time.Time
	pause time.Duration
}

func newKeeper() *keeper {
	return &keeper{wake: make(chan struct{}, 1), active: map[string]*download{}, failed: map[string]*keepFailure{}}
}

// poke makes the workers look again (the setting, or the vault, changed).
func (k *keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// downloading reports whether a fetch of file id is under way.
func (k *keeper) downloading(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.active[id] != nil
}

// Download is FetchFile recorded as a download under way, so status can
// say "downloading NAME: n of m MB" while it runs. Every fetch of the
// device goes through it: kept files, an opened page's, and what the API
// asks for (`mycel files get`, the web app). A file already being fetched
// is not fetched twice at once: a second caller waits for the first, then
// fetches what is still missing (nothing, if the first succeeded).
func (d *Device) Download(ctx context.Context, m *files.Manifest) error {
	k := d.keep
	id := m.ID()
	for {
		k.mu.Lock()
		dl := k.active[id]
		if dl == nil {
			dl = &download{m: m, done: make(chan struct{})}
			k.active[id] = dl
			k.mu.Unlock()
			break
		}
		k.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dl.done:
		}
	}
	defer func() {
		k.mu.Lock()
		dl := k.active[id]
		delete(k.active, id)
		k.mu.Unlock()
		close(dl.done)
	}()
	return d.FetchFile(ctx, m)
}

// startKeeping starts the workers and what wakes them (Start calls it).
// Called with d.mu held.
func (d *Device) startKeeping() {
	small, large := make(chan struct{}, 1), make(chan struct{}, 1)
	d.goTracked(func() { d.keepWaker(small, large) })
	d.goTracked(func() { d.keepWorker(small, false) })
	d.goTracked(func() { d.keepWorker(large, true) })
}

// keepWaker wakes both workers at every event that may give them work.
// A connection also forgets the failures: the new peer may hold them.
func (d *Device) keepWaker(small, large chan struct{}) {
	k := d.keep
	wakeBoth := func() {
		for _, c := range []chan struct{}{small, large} {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	wakeBoth() // at start
	look := time.NewTicker(keepLook)
	defer look.Stop()
	seen := map[objsync.PeerID]time.Time{} // each peer's connection, by since when
	for {
		d.files.mu.Lock()
		linked := d.files.linked // closed when a node connects
		d.files.mu.Unlock()
		connected := false
		select {
		case <-d.ctx.Done():
			return
		case <-k.wake:
		case <-d.Engine.Stored():
		case <-linked:
			connected = true
		case <-look.C:
			// A peer connected since the last look, or connected again
			// (a dropped connection redialed in between: what failed
			// with the drop is tried again now, not after its pause).
			now := d.Service.Peers()
			for p, since := range now {
				connected = connected || !seen[p].Equal(since)
			}
			seen = now
			if !connected {
				continue
			}
		}
		if connected {
			k.mu.Lock()
			clear(k.failed)
			k.mu.Unlock()
		}
		wakeBoth()
	}
}

// keepWorker runs passes over the kept files of its size (large: over
// smallFile) whenever woken, and when a failed one is due again.
func (d *Device) keepWorker(wake chan struct{}, large bool) {
	retry := time.NewTimer(keepRetryMax)
	defer retry.Stop()
	var last time.Time
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-wake:
		case <-retry.C:
		}
		if gap := keepGap - time.Since(last); gap > 0 {
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(gap):
			}
		}
		last = time.Now()
		next, err := d.keepPass(d.ctx, large)
		if err != nil && d.ctx.Err() == nil {
			d.cfg.Log.Warn("keep files offline", "err", err)
		}
		if next <= 0 {
			next = keepRetryMax
		}
		retry.Reset(next)
	}
}

// keptFiles lists the files of the pages kept offline that are not all
// here, of one size class, smallest first, once each.
func (d *Device) keptFiles(ctx context.Context, large bool) ([]*files.Manifest, error) {
	e := d.Engine
	o, err := e.Offline(ctx)
	if err != nil || !o.All && len(o.Pages) == 0 {
		return nil, err
	}
	pages := o.Pages
	if o.All {
		objs, err := e.List(ctx, vault.ListOptions{Archived: true})
		if err != nil {
			return nil, err
		}
		pages = nil
		for _, ob := range objs {
			pages = append(pages, ob.ID)
		}
	}
	var out []*files.Manifest
	seen := map[string]bool{}
	for _, id := range pages {
		fs, err := e.Files(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue // a page kept that is not here (yet): nothing to fetch
		}
		for _, f := range fs {
			m := f.Manifest
			if m == nil || seen[m.ID()] || (m.Size > smallFile) != large {
				continue
			}
			seen[m.ID()] = true
			if h, err := e.Here(m); err != nil || h.Complete() {
				continue
			}
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *files.Manifest) int { return cmp.Compare(a.Size, b.Size) })
	return out, nil
}

// keepPass fetches the kept files of one size class not here, one at a
// time, and returns when the next failed one is due (0: none failed).
func (d *Device) keepPass(ctx context.Context, large bool) (time.Duration, error) {
	todo, err := d.keptFiles(ctx, large)
	if err != nil || len(todo) == 0 {
		return 0, err
	}
	if !d.canFetch() {
		return 0, nil // a connection wakes the workers
	}
	k := d.keep
	var due time.Time
	for _, m := range todo {
		id := m.ID()
		k.mu.Lock()
		f := k.failed[id]
		k.mu.Unlock()
		if f != nil && time.Now().Before(f.next) {
			if due.IsZero() || f.next.Before(due) {
				due = f.next
			}
			continue
		}
		err := d.Download(ctx, m)
		if ctx.Err() != nil {
			return 0, nil
		}
		k.mu.Lock()
		if err == nil {
			delete(k.failed, id)
		} else {
			if f == nil {
				f = &keepFailure{}
				k.failed[id] = f
			}
			f.pause = min(max(2*f.pause, keepRetryMin), keepRetryMax)
			f.next = time.Now().Add(f.pause)
			if due.IsZero() || f.next.Before(due) {
				due = f.next
			}
		}
		k.mu.Unlock()
		if err != nil && !errors.Is(err, ErrNoHolder) {
			// The log names no file (its errors do, for the person).
			d.cfg.Log.Info("fetch a file kept offline", "file", id[:12], "err", strings.ReplaceAll(err.Error(), m.Name, "…"), "retry_in", f.pause)
		}
	}
	if due.IsZero() {
		return 0, nil
	}
	return max(time.Until(due), time.Millisecond), nil
}

// canFetch reports whether any node or device nearby is connected to
// fetch from (FetchFile would wait for one, then give up).
func (d *Device) canFetch() bool {
	d.files.mu.Lock()
	nodes := len(d.files.nodes)
	d.files.mu.Unlock()
	return nodes > 0 || len(d.lanLinks()) > 0
}
