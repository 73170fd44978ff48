package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"mycel/internal/change"
	"mycel/internal/store"
)

// keepSetting is the device setting that says which pages' files this
// device keeps offline (JSON Offline). It is this device's choice alone:
// a phone keeps less than a laptop, so it never syncs.
const keepSetting = "keep_offline"

// Offline says which files this device keeps offline: fetched eagerly by
// a running device, whatever their size, rather than when a page is
// opened (and then only up to 64 MiB).
type Offline struct {
	All   bool        // every page's files, pages added later included
	Pages []change.ID // these pages' files (besides All)
}

// offlineJSON is Offline as stored: ids in hex, readable in a backup.
type offlineJSON struct {
	All   bool     `json:"all"`
	Pages []string `json:"pages"`
}

// Keeps reports whether the files of page id are kept offline.
func (o Offline) Keeps(id change.ID) bool { return o.All || slices.Contains(o.Pages, id) }

// ErrKeptByAll refuses to stop keeping one page while the whole vault is
// kept: the page would stay kept, which is not what was asked.
var ErrKeptByAll = errors.New("the whole vault is kept offline ('mycel files keep --all'): undo that with 'mycel files keep --off --all', then keep the pages you want one by one")

// Offline reads what this device keeps offline.
func (e *Engine) Offline(ctx context.Context) (Offline, error) {
	var o Offline
	err := e.db.View(ctx, func(tx store.Tx) (err error) {
		o, err = readOffline(tx)
		return err
	})
	return o, err
}

func readOffline(tx store.Tx) (Offline, error) {
	var o Offline
	b, err := tx.Setting(keepSetting)
	if err != nil || len(b) == 0 {
		return o, err
	}
	var j offlineJSON
	err = json.Unmarshal(b, &j)
	o.All = j.All
	for _, s := range j.Pages {
		id, perr := change.ParseID(s)
		if err = errors.Join(err, perr); err == nil {
			o.Pages = append(o.Pages, id)
		}
	}
	if err != nil {
		return Offline{}, fmt.Errorf("the keep-offline setting is damaged (%w): 'mycel files keep --off --all' resets it", err)
	}
	return o, nil
}

// SetOffline marks pages (or, with all, the whole vault) kept offline, or
// with on false stops keeping them, and returns what is kept now. The
// files already here stay either way: stopping only stops fetching. Every
// page must exist; stopping one page while the whole vault is kept is
// ErrKeptByAll. Read and written in one transaction, so a CLI and the web
// app changing it at once lose neither's mark.
func (e *Engine) SetOffline(ctx context.Context, pages []change.ID, all, on bool) (Offline, error) {
	if !all && len(pages) == 0 {
		return Offline{}, errors.New("say which pages to keep offline (their ids), or the whole vault (all)")
	}
	var o Offline
	err := e.db.Update(ctx, func(tx store.Tx) error {
		var err error
		if o, err = readOffline(tx); err != nil && !(all && !on) {
			return err // a reset (off, all) writes over a damaged setting
		}
		for _, id := range pages {
			if _, err := tx.Object(id); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no page %s in this vault ('mycel ls' lists them)", id.Short())
			} else if err != nil {
				return err
			}
		}
		switch {
		case all && on:
			o.All = true
		case all:
			o = Offline{}
		case on:
			for _, id := range pages {
				if !slices.Contains(o.Pages, id) {
					o.Pages = append(o.Pages, id)
				}
			}
		default:
			if o.All {
				return ErrKeptByAll
			}
			o.Pages = slices.DeleteFunc(o.Pages, func(id change.ID) bool { return slices.Contains(pages, id) })
		}
		j := offlineJSON{All: o.All, Pages: []string{}}
		for _, id := range o.Pages {
			j.Pages = append(j.Pages, id.String())
		}
		b, err := json.Marshal(j)
		if err != nil {
			return err
		}
		return tx.SetSetting(keepSetting, b)
	})
	if err != nil {
		return Offline{}, err
	}
	return o, nil
}
