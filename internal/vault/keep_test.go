package vault

import (
	"errors"
	"strings"
	"testing"

	"mycel/internal/change"
)

// The keep-offline mark: pages added once each, stopped one by one,
// refused for a page not in the vault and, one at a time, under --all; a
// damaged setting says how to reset it, and the reset works. It is this
// device's: the other device of the vault keeps nothing.
func TestOfflineMark(t *testing.T) {
	a, b := pair(t)
	x, err := a.Create(ctx, NewPage{Title: "X"})
	if err != nil {
		t.Fatal(err)
	}
	y, err := a.Create(ctx, NewPage{Title: "Y"})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := a.SetOffline(ctx, []change.ID{x, y, x}, false, true); err != nil || len(o.Pages) != 2 || !o.Keeps(x) || o.All {
		t.Fatalf("keep x, y: %+v, %v", o, err)
	}
	if o, err := a.SetOffline(ctx, []change.ID{x}, false, false); err != nil || o.Keeps(x) || !o.Keeps(y) {
		t.Fatalf("off x: %+v, %v", o, err)
	}
	if _, err := a.SetOffline(ctx, []change.ID{{1, 2, 3}}, false, true); err == nil || !strings.Contains(err.Error(), "no page") {
		t.Fatalf("a page not in the vault: %v", err)
	}
	if o, err := a.SetOffline(ctx, nil, true, true); err != nil || !o.All || !o.Keeps(x) {
		t.Fatalf("all: %+v, %v", o, err)
	}
	if _, err := a.SetOffline(ctx, []change.ID{y}, false, false); !errors.Is(err, ErrKeptByAll) {
		t.Fatalf("off y under all: %v", err)
	}
	if o, err := b.Offline(ctx); err != nil || o.All || len(o.Pages) != 0 {
		t.Fatalf("the other device: %+v, %v", o, err)
	}
	if err := a.SetSetting(ctx, keepSetting, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Offline(ctx); err == nil || !strings.Contains(err.Error(), "--off --all") {
		t.Fatalf("a damaged mark: %v", err)
	}
	if o, err := a.SetOffline(ctx, nil, true, false); err != nil || o.All || len(o.Pages) != 0 {
		t.Fatalf("reset: %+v, %v", o, err)
	}
}
