package vault

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mycel/internal/keys"
	"mycel/internal/member"
)

func deviceName(t *testing.T, e *Engine, key []byte) string {
	t.Helper()
	ds, err := e.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if string(d.Key) == string(key) {
			return d.Name
		}
	}
	t.Fatalf("no device %x", key)
	return ""
}

// pairPhrase is pair with the vault's phrase.
func pairPhrase(t *testing.T) (a, b *Engine, phrase string) {
	t.Helper()
	a, phrase, err := Init(ctx, filepath.Join(t.TempDir(), "a"), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	b, err = Recover(ctx, filepath.Join(t.TempDir(), "b"), phrase, "phone")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	ra, _ := a.MemberRecords(ctx)
	rb, _ := b.MemberRecords(ctx)
	if err := a.AddMemberRecords(ctx, rb); err != nil {
		t.Fatal(err)
	}
	if err := b.AddMemberRecords(ctx, ra); err != nil {
		t.Fatal(err)
	}
	return a, b, phrase
}

func TestRenameDevice(t *testing.T) {
	a, b, phrase := pairPhrase(t)
	bKey := hex.EncodeToString(b.DeviceKey())
	// By name, by key prefix, by whole key; this device or another.
	for _, step := range []struct{ which, name string }{
		{"phone", "old phone"}, {bKey[:8], "  pocket  "}, {strings.ToUpper(bKey), "pocket 2"},
	} {
		d, err := a.RenameDevice(ctx, step.which, step.name)
		if err != nil {
			t.Fatalf("rename %q: %v", step.which, err)
		}
		if got := deviceName(t, a, b.DeviceKey()); got != strings.TrimSpace(step.name) || d.Name != got {
			t.Fatalf("after renaming %q to %q: %q (returned %q)", step.which, step.name, got, d.Name)
		}
	}
	if _, err := a.RenameDevice(ctx, "laptop", "desk"); err != nil || deviceName(t, a, a.DeviceKey()) != "desk" {
		t.Fatalf("renaming this device: %v", err)
	}
	// The other device learns it from the records.
	recs, _ := a.MemberRecords(ctx)
	if err := b.AddMemberRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if got := deviceName(t, b, b.DeviceKey()); got != "pocket 2" {
		t.Fatalf("b names itself %q", got)
	}

	// Refusals, each saying what to do.
	long := strings.Repeat("x", MaxDeviceName+1)
	for _, bad := range []struct{ which, name, want string }{
		{"desk", "   ", "cannot be empty"},
		{"desk", "a\nb", "control characters"},
		{"desk", "a\x00b", "control characters"},
		{"desk", "\xff", "UTF-8"},
		{"desk", long, "at most 64 bytes"},
		{"tablet", "x", "no device of this vault is named \"tablet\""},
		{"zz", "x", "no device"},
		{"", "x", "name the device"},
	} {
		if _, err := a.RenameDevice(ctx, bad.which, bad.name); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("rename %q to %q: %v, want an error saying %q", bad.which, bad.name, err, bad.want)
		}
	}
	if _, err := a.RenameDevice(ctx, "desk", strings.Repeat("é", 32)); err != nil {
		t.Errorf("a 64-byte name: %v", err)
	}

	// Ambiguous: two devices of one name, and a prefix both keys share.
	c, err := Recover(ctx, filepath.Join(t.TempDir(), "c"), phrase, "twin")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, _ := c.MemberRecords(ctx)
	if err := a.AddMemberRecords(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RenameDevice(ctx, "pocket 2", "twin"); err != nil {
		t.Fatal(err)
	}
	_, err = a.RenameDevice(ctx, "twin", "x")
	if err == nil || !strings.Contains(err.Error(), "matches 2 devices") || !strings.Contains(err.Error(), bKey[:12]) {
		t.Fatalf("ambiguous name: %v", err)
	}
	if _, err := a.RenameDevice(ctx, bKey, "pocket"); err != nil {
		t.Fatalf("a whole key is never ambiguous: %v", err)
	}

	// A removed device is not renamed.
	v, _ := keys.VaultFromPhrase(phrase)
	removal, _ := member.NewRecord(v, member.Remove, c.DeviceKey(), "", time.Now())
	if err := a.AddMemberRecords(ctx, [][]byte{removal}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RenameDevice(ctx, "twin", "back"); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("renaming a removed device: %v", err)
	}
}

// A rename takes effect here even when the name it replaces is dated
// later than this device's clock.
func TestRenameDeviceAfterAFutureName(t *testing.T) {
	a, b, phrase := pairPhrase(t)
	v, _ := keys.VaultFromPhrase(phrase)
	future, _ := member.NewRecord(v, member.Rename, b.DeviceKey(), "from the future", time.Now().Add(24*time.Hour))
	if err := a.AddMemberRecords(ctx, [][]byte{future}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RenameDevice(ctx, "from the future", "now"); err != nil {
		t.Fatal(err)
	}
	if got := deviceName(t, a, b.DeviceKey()); got != "now" {
		t.Fatalf("name %q", got)
	}
}

func TestLastSeenPersisted(t *testing.T) {
	a, b := pair(t)
	k := hex.EncodeToString(b.DeviceKey())
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := a.NoteLastSeen(ctx, map[string]time.Time{k: t1}); err != nil {
		t.Fatal(err)
	}
	if err := a.NoteLastSeen(ctx, map[string]time.Time{k: t1.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ds, _ := a.Devices(ctx)
	for _, d := range ds {
		if d.This && !d.LastSeen.IsZero() || !d.This && !d.LastSeen.Equal(t1) {
			t.Fatalf("%s last seen %v, want %v (an earlier time does not replace a later)", d.Name, d.LastSeen, t1)
		}
	}
}
