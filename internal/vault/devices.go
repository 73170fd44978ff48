package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"mycel/internal/member"
	"mycel/internal/store"
)

// MaxDeviceName bounds a device's name, in bytes.
const MaxDeviceName = 64

// CheckDeviceName returns name trimmed of surrounding space, or why it
// cannot name a device.
func CheckDeviceName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", errors.New("a device name cannot be empty: give one, such as \"work laptop\"")
	case !utf8.ValidString(name):
		return "", errors.New("a device name must be UTF-8 text")
	case len(name) > MaxDeviceName:
		return "", fmt.Errorf("a device name is at most %d bytes; %q is %d: shorten it", MaxDeviceName, name, len(name))
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("a device name cannot hold control characters (such as a newline, a tab or NUL): %q; remove them", name)
		}
	}
	return name, nil
}

// RenameDevice names a device of the vault (any device, this one or
// another): which is its key in hex, a unique prefix of it, or its current
// name. It only writes a membership record to the store, so it works
// offline; the record reaches the other devices and the nodes at the next
// sync. Where two renames of one device meet, the later by time wins (then
// the greater record hash), everywhere alike; the record is dated after
// the name it replaces, so a rename always takes effect here even if the
// clock is behind.
func (e *Engine) RenameDevice(ctx context.Context, which, name string) (DeviceInfo, error) {
	name, err := CheckDeviceName(name)
	if err != nil {
		return DeviceInfo{}, err
	}
	var out DeviceInfo
	err = e.db.Update(ctx, func(tx store.Tx) error {
		l, err := e.members(tx)
		if err != nil {
			return err
		}
		d, err := e.findDevice(l, which)
		if err != nil {
			return err
		}
		old, _ := d.Name(e.vault.ReadKey)
		out = DeviceInfo{Key: d.Key, Name: name, Added: d.Added, This: d.Key.Equal(e.DeviceKey())}
		if d.Removed != nil {
			return fmt.Errorf("device %q (%x) was removed from the vault; a removed device cannot be renamed", old, d.Key[:6])
		}
		if old == name {
			return nil // nothing to record
		}
		at := time.Now()
		if floor := d.NamedAt().Add(time.Millisecond); at.Before(floor) {
			at = floor
		}
		raw, err := member.NewRecord(e.vault, member.Rename, d.Key, name, at)
		if err != nil {
			return err
		}
		if l.Len() >= member.MaxRecords {
			return fmt.Errorf("the membership log already holds %d records, the most a vault may have", member.MaxRecords)
		}
		if err := l.Clone().Add(raw); err != nil {
			return err
		}
		return tx.PutMemberRecord(raw)
	})
	return out, err
}

// findDevice resolves which (a key in hex, a unique prefix of one, or a
// current name) to one device of the log.
func (e *Engine) findDevice(l *member.Log, which string) (*member.Device, error) {
	which = strings.TrimSpace(which)
	if which == "" {
		return nil, errors.New("name the device by its name or key (see mycel devices)")
	}
	lower := strings.ToLower(which)
	var byKey, byName []*member.Device
	for _, d := range l.Devices() {
		k := hex.EncodeToString(d.Key)
		if k == lower {
			return d, nil
		}
		if strings.HasPrefix(k, lower) {
			byKey = append(byKey, d)
		}
		if n, err := d.Name(e.vault.ReadKey); err == nil && n == which {
			byName = append(byName, d)
		}
	}
	matched := byName
	if len(matched) == 0 {
		matched = byKey
	}
	switch len(matched) {
	case 0:
		return nil, fmt.Errorf("no device of this vault is named %q or has a key starting with it (see mycel devices)", which)
	case 1:
		return matched[0], nil
	}
	var list []string
	for _, d := range matched {
		n, _ := d.Name(e.vault.ReadKey)
		list = append(list, fmt.Sprintf("%q (%x)", n, d.Key[:6]))
	}
	return nil, fmt.Errorf("%q matches %d devices: %s; give more of the key", which, len(matched), strings.Join(list, ", "))
}

// lastSeenSetting holds when this device last heard from each other
// device: JSON, hex key to time.
const lastSeenSetting = "last-seen"

// lastSeen reads the persisted last-seen times (none if unreadable: they
// only inform).
func lastSeen(tx store.Tx) map[string]time.Time {
	out := map[string]time.Time{}
	if b, err := tx.Setting(lastSeenSetting); err == nil && b != nil {
		_ = json.Unmarshal(b, &out)
	}
	return out
}

// NoteLastSeen records when this device last heard from other devices
// (by hex key): each time is kept if later than the one stored. The
// running device calls it every few seconds, not for every message.
func (e *Engine) NoteLastSeen(ctx context.Context, seen map[string]time.Time) error {
	if len(seen) == 0 {
		return nil
	}
	return e.db.Update(ctx, func(tx store.Tx) error {
		old := lastSeen(tx)
		changed := false
		for k, t := range seen {
			if t.After(old[k]) {
				old[k] = t.UTC().Truncate(time.Millisecond)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		b, err := json.Marshal(old)
		if err != nil {
			return err
		}
		return tx.SetSetting(lastSeenSetting, b)
	})
}
