package main

import (
	"strings"
	"testing"
	"time"

	"mycel/internal/node"
)

// --chunk-grace: 0 turns collection off, a grace under the node's shortest
// is refused with it, and the node refuses to start on one.
func TestChunkGraceFlag(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want time.Duration
		err  string
	}{
		{in: node.DefaultChunkGrace, want: node.DefaultChunkGrace},
		{in: 0, want: -1},
		{in: 30 * time.Minute, err: "too short"},
		{in: -time.Hour, err: "positive"},
	} {
		got, err := chunkGraceOption(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("--chunk-grace %v: %v, want an error saying %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("--chunk-grace %v: %v %v, want %v", c.in, got, err, c.want)
		}
	}
	_, stderr, err := newCLI(t).run("", "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--chunk-grace", "5m")
	if err == nil || !strings.Contains(stderr, "--chunk-grace 5m0s is too short") {
		t.Fatalf("a node with a grace of 5 minutes: %v, %s", err, stderr)
	}
}
