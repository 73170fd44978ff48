package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"mycel/internal/keys"
	"mycel/internal/member"
	"mycel/internal/p2p"
	"mycel/internal/pb"
)

// These helpers play the attackers of issue 10: clients built on mycel's
// own packages, speaking to a real `mycel node` process.

// prober is a client with a device key of its own.
type prober struct {
	t   *testing.T
	key ed25519.PrivateKey
	h   host.Host
}

func newPeer(t *testing.T, key ed25519.PrivateKey) *prober {
	t.Helper()
	if key == nil {
		_, key, _ = ed25519.GenerateKey(nil)
	}
	h, err := p2p.NewHost(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return &prober{t: t, key: key, h: h}
}

func (p *prober) pub() ed25519.PublicKey { return p.key.Public().(ed25519.PublicKey) }

// hello sends a Hello and closes the stream; the refusal's reason, if any.
func (p *prober) hello(ctx context.Context, addr string, h *pb.Hello) (string, error) {
	_, s, _, _, err := p2p.Dial(ctx, p.h, addr, h)
	if err == nil {
		s.Close()
		return "", nil
	}
	var refused *p2p.RefusedError
	if errors.As(err, &refused) {
		return refused.Reason, nil
	}
	return "", err
}

// ownVault is a new vault whose account the caller holds, with a record
// adding device.
func ownVault(t testing.TB, device ed25519.PublicKey) (*keys.Vault, [][]byte) {
	t.Helper()
	seed := make([]byte, 64)
	rand.Read(seed)
	v, err := keys.DeriveVault(seed)
	if err != nil {
		t.Fatal(err)
	}
	return v, [][]byte{addRecord(t, v, device, time.Now())}
}

func addRecord(t testing.TB, v *keys.Vault, device ed25519.PublicKey, at time.Time) []byte {
	r, err := member.NewRecord(v, member.Add, device, "d", at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// moreRecords are n valid records of v, adding other devices.
func moreRecords(t testing.TB, v *keys.Vault, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		pub, _, _ := ed25519.GenerateKey(nil)
		out[i] = addRecord(t, v, pub, time.UnixMilli(int64(i)))
	}
	return out
}

// fds counts a process's open files.
func fds(t *testing.T, p *proc) int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/fd")
	if err != nil {
		t.Skipf("cannot count open files (%v): needs Linux /proc", err)
	}
	return len(ents)
}

// cpu is a process's CPU time so far (user and system).
func cpu(t *testing.T, p *proc) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		t.Skipf("cannot read CPU time (%v): needs Linux /proc", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
