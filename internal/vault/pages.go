package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"mycel/internal/change"
	"mycel/internal/crdt"
	"mycel/internal/markdown"
	"mycel/internal/store"
)

// The domain rules of pages live here, once, for every front end (the CLI,
// the API, a web app): what a title must be, which details are the
// engine's own, how Markdown documents map to pages.

// MaxMarkdown bounds a Markdown document written into one page.
const MaxMarkdown = 16 << 20

// reserved are details only the engine's own calls set: archived and
// deleted hide an object (Archive, Delete), and the Markdown meta keys
// (id, heads, created, updated) are not details at all.
func reserved(key string) bool {
	switch key {
	case "archived", "deleted", "id", "heads", "created", "updated":
		return true
	}
	return false
}

// checkDetail checks a detail a person sets.
func checkDetail(key, value string) error {
	switch {
	case key == "" || strings.ContainsAny(key, ":\n") || strings.TrimSpace(key) != key || strings.HasPrefix(key, "-") || strings.HasPrefix(key, "#"):
		return fmt.Errorf("%q is not a detail name (no colons or newlines, nor spaces, '-' or '#' at its start)", key)
	case key == "archived":
		return errors.New("archive and unarchive an object with `mycel archive` and `mycel unarchive`")
	case key == "deleted":
		return errors.New("put an object in the bin with `mycel rm`, and take it out with `mycel rm --undo`")
	case reserved(key):
		return fmt.Errorf("%q is not a detail: mycel writes it in exported files to say which object and version they are", key)
	case key == "title" && strings.TrimSpace(value) == "":
		return errors.New("an object needs a title")
	case strings.Contains(value, "\n"):
		return fmt.Errorf("the value of %q holds a newline: details are one line", key)
	}
	return nil
}

func checkSize(md string) error {
	if len(md) > MaxMarkdown {
		return fmt.Errorf("the document is %.1f MB; a page holds at most %d MB of Markdown: split it into several pages", float64(len(md))/(1<<20), MaxMarkdown>>20)
	}
	return nil
}

// NewPage is what Create makes.
type NewPage struct {
	Title   string
	Type    string            // "page" when empty
	Details map[string]string // more details (tags, …); Title and Type win
	Blocks  []*crdt.Block
	// SyncOff keeps the page to this device from its first change (see
	// SetSyncOff): written in the same transaction, it is never offered.
	SyncOff bool
}

// Create makes a new object: its root change and a first change with the
// details and blocks given, in one transaction, as a version of its own.
func (e *Engine) Create(ctx context.Context, p NewPage) (change.ID, error) {
	details := map[string]string{}
	for k, v := range p.Details {
		if v == "" {
			continue
		}
		if err := checkDetail(k, v); err != nil {
			return change.ID{}, err
		}
		details[k] = v
	}
	if p.Title != "" {
		details["title"] = p.Title
	}
	if p.Type != "" {
		details["type"] = p.Type
	}
	if details["type"] == "" {
		details["type"] = "page"
	}
	if strings.TrimSpace(details["title"]) == "" {
		return change.ID{}, errors.New("an object needs a title")
	}
	return e.create(ctx, details, p.Blocks, p.SyncOff)
}

// create makes an object without checking its details (imports bring
// objects back as they were exported, archived ones included).
func (e *Engine) create(ctx context.Context, details map[string]string, blocks []*crdt.Block, syncOff bool) (change.ID, error) {
	root, err := change.NewRoot(e.vault.ID, e.device, e.Now())
	if err != nil {
		return change.ID{}, err
	}
	_, err = e.createAs(ctx, root, details, blocks, syncOff)
	return root.ID, err
}

// createAs makes the object of root (made ahead, so that an import knows
// the ids of the objects it links to before it writes them) and returns
// the heads it wrote; with syncOff, the object is kept off sync.
func (e *Engine) createAs(ctx context.Context, root *change.Change, details map[string]string, blocks []*crdt.Block, syncOff bool) ([]change.ID, error) {
	if err := e.mayWrite(ctx); err != nil {
		return nil, err
	}
	id := root.ID
	l := &loaded{id: id, key: e.objectKey(id), doc: crdt.NewDoc(), heads: []change.ID{id},
		row: store.Object{ID: id, Type: "page", Created: root.Time, Updated: root.Time, Changes: 1}}
	t := l.doc.Begin(string(e.DeviceKey()))
	if err := run(ctx, func() error {
		t.ReplaceDetails(details)
		t.Replace(blocks)
		return nil
	}); err != nil {
		return nil, err
	}
	var cs []*change.Change
	if ch := t.Commit(); ch != nil {
		var err error
		// Built on the root, not stored yet: its Lamport is 0.
		if cs, err = e.seal(ctx, id, l.key, []change.ID{id}, root.Lamport, ch, true); err != nil {
			return nil, err
		}
	}
	err := e.db.Update(ctx, func(tx store.Tx) error {
		if err := e.checkWriter(tx); err != nil {
			return err
		}
		if syncOff {
			if err := setSyncOffIn(tx, []change.ID{id}, true); err != nil {
				return err
			}
		}
		m := store.MetaOf(root)
		m.Local = true
		seq, _, err := tx.PutChange(m, root.Raw)
		if err != nil {
			return err
		}
		l.seq = seq
		for _, c := range cs {
			if err := e.putLocal(tx, l, c); err != nil {
				return err
			}
		}
		return e.save(tx, l)
	})
	if err != nil {
		return nil, err
	}
	heads := slices.Clone(l.heads)
	e.afterWrite(ctx, l)
	e.keep(l)
	return heads, nil
}

// CreateMarkdown makes an object from a Markdown document: its front
// matter sets details; those in details win over it.
func (e *Engine) CreateMarkdown(ctx context.Context, md string, details map[string]string) (change.ID, error) {
	return e.CreateMarkdownPage(ctx, md, NewPage{Details: details})
}

// CreateMarkdownPage is CreateMarkdown with the rest of a NewPage: its
// details win over the front matter's; its blocks are not read.
func (e *Engine) CreateMarkdownPage(ctx context.Context, md string, np NewPage) (change.ID, error) {
	details := np.Details
	if err := checkSize(md); err != nil {
		return change.ID{}, err
	}
	doc := markdown.ParseDocument(md)
	if err := e.resolveNames(ctx, doc.Blocks); err != nil {
		return change.ID{}, err
	}
	if err := e.resolveMarkdownFiles(ctx, change.ID{}, nil, doc.Blocks); err != nil {
		return change.ID{}, err
	}
	p := NewPage{Title: np.Title, Type: np.Type, Details: map[string]string{}, Blocks: doc.Blocks, SyncOff: np.SyncOff}
	for k, v := range doc.Details {
		if !reserved(k) {
			p.Details[k] = v
		}
	}
	for k, v := range details {
		p.Details[k] = v
	}
	return e.Create(ctx, p)
}

// WriteMarkdown makes the object's content that of a Markdown document:
// all its blocks; the details its front matter names (an empty value
// removes one; details it does not name stay). The document's heads (a
// file shown or exported by mycel carries them) are what the edit is
// based on, unless opts.Base says otherwise: so writing back a file
// edited for an hour undoes nothing that arrived meanwhile.
func (e *Engine) WriteMarkdown(ctx context.Context, id change.ID, md string, opts EditOptions) (Result, error) {
	if err := checkSize(md); err != nil {
		return Result{ID: id}, err
	}
	doc := markdown.ParseDocument(md)
	if err := e.resolveNames(ctx, doc.Blocks); err != nil {
		return Result{ID: id}, err
	}
	if doc.Meta.ID != "" && doc.Meta.ID != id.String() {
		return Result{ID: id}, fmt.Errorf("the document is of object %.12s, not %s: write it to that one", doc.Meta.ID, id.Short())
	}
	if opts.Base == nil && len(doc.Meta.Heads) > 0 {
		for _, h := range doc.Meta.Heads {
			b, err := change.ParseID(h)
			if err != nil {
				return Result{ID: id}, fmt.Errorf("the document's heads: %w", err)
			}
			opts.Base = append(opts.Base, b)
		}
	}
	if err := e.resolveMarkdownFiles(ctx, id, opts.Base, doc.Blocks); err != nil {
		return Result{ID: id}, err
	}
	set := map[string]string{}
	for k, v := range doc.Details {
		if k == "archived" || k == "deleted" {
			continue // archive, unarchive and rm do that
		}
		if v != "" || k == "title" {
			if err := checkDetail(k, v); err != nil {
				return Result{ID: id}, fmt.Errorf("the front matter: %w", err)
			}
		}
		set[k] = v
	}
	return e.Edit(ctx, id, opts, func(t *crdt.Tx) error {
		t.SetDetails(set)
		t.Replace(doc.Blocks)
		return nil
	})
}

// AppendMarkdown adds a Markdown text's blocks at the end of the object.
func (e *Engine) AppendMarkdown(ctx context.Context, id change.ID, md string) (Result, error) {
	if err := checkSize(md); err != nil {
		return Result{ID: id}, err
	}
	blocks := markdown.Parse(md)
	if err := e.resolveNames(ctx, blocks); err != nil {
		return Result{ID: id}, err
	}
	if err := e.resolveMarkdownFiles(ctx, id, nil, blocks); err != nil {
		return Result{ID: id}, err
	}
	return e.Edit(ctx, id, EditOptions{NewVersion: true}, func(t *crdt.Tx) error {
		t.AppendBlocks(blocks)
		return nil
	})
}

// SetDetail sets one detail (title, type, tags or one of the person's
// own); an empty value removes it.
func (e *Engine) SetDetail(ctx context.Context, id change.ID, key, value string) (Result, error) {
	key = strings.TrimSpace(key)
	if value != "" || key == "title" {
		if err := checkDetail(key, value); err != nil {
			return Result{ID: id}, err
		}
	} else if reserved(key) {
		return Result{ID: id}, checkDetail(key, value)
	}
	return e.Edit(ctx, id, EditOptions{NewVersion: true}, func(t *crdt.Tx) error {
		t.SetDetails(map[string]string{key: value})
		return nil
	})
}

// Archive hides the object from lists (nothing is deleted), or brings it
// back.
func (e *Engine) Archive(ctx context.Context, id change.ID, on bool) (Result, error) {
	return e.setHidden(ctx, id, "archived", on)
}

// Delete puts the object in the bin: hidden from lists and search, synced
// as a change like any other, kept in history; Undelete takes it out.
// An edit made concurrently on another device takes it out too.
func (e *Engine) Delete(ctx context.Context, id change.ID) (Result, error) {
	return e.setHidden(ctx, id, "deleted", true)
}

// Undelete takes an object out of the bin.
func (e *Engine) Undelete(ctx context.Context, id change.ID) (Result, error) {
	return e.setHidden(ctx, id, "deleted", false)
}

func (e *Engine) setHidden(ctx context.Context, id change.ID, key string, on bool) (Result, error) {
	o, err := e.Get(ctx, id)
	if err != nil {
		return Result{ID: id}, err
	}
	holds, set := o.Details[key] == "true", o.Doc.Details()[key] == "true"
	if on && holds || !on && !set {
		return Result{ID: id, Heads: o.Heads}, nil
	}
	return e.Edit(ctx, id, EditOptions{NewVersion: true}, func(t *crdt.Tx) error {
		if on {
			t.SetDetail(key, "true")
		} else {
			// Unset even if the register says true but no longer holds:
			// the person means it.
			t.UnsetDetail(key)
		}
		return nil
	})
}

// Markdown renders an object as a document: details, id and heads as
// front matter, then its blocks. Writing it back (WriteMarkdown) is based
// on the version it shows.
func (o *Object) Markdown() string {
	heads := make([]string, len(o.Heads))
	for i, h := range o.Heads {
		heads[i] = h.String()
	}
	return markdown.RenderDocument(o.Details, markdown.Meta{ID: o.ID.String(), Heads: heads}, o.Doc.Blocks())
}
