package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mycel/internal/vault"
)

// phraseLike finds a line of twelve lowercase words: a recovery phrase.
func phraseLike(out string) string {
	for _, l := range strings.Split(out, "\n") {
		w := strings.Fields(l)
		if len(w) == 12 && strings.ToLower(l) == l && !strings.ContainsAny(l, ".,:'\"{}") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// The recovery phrase never goes to a pipe or a log unasked: init and a
// first `up` with standard output not a terminal create nothing (a phrase
// shown nowhere is lost for good, since only its seed is kept) and say
// how to proceed; with --show-phrase they print it, and JSON carries it
// only then. (up and init printed it to whatever read their output, and
// put it in up's "created" event.)
func TestPhraseOnlyOnTheTerminalOrWhenAsked(t *testing.T) {
	for _, args := range [][]string{{"init"}, {"init", "--json"}, {"up", "--no-lan"}, {"up", "--json", "--no-lan"}} {
		c := newCLI(t)
		out, errOut, err := c.run("", args...)
		if err == nil || !strings.Contains(errOut, "--show-phrase") || !strings.Contains(errOut, "no vault created") {
			t.Fatalf("%v to a pipe: %v\n%s\n%s", args, err, out, errOut)
		}
		if p := phraseLike(out + errOut); p != "" {
			t.Fatalf("%v printed a phrase to a pipe: %q", args, p)
		}
		if _, err := os.Stat(filepath.Join(c.data, vault.SecretsFile)); err == nil {
			t.Fatalf("%v made a vault whose phrase nobody saw", args)
		}
	}

	c := newCLI(t)
	if p := phraseLike(c.ok("init", "--show-phrase", "--name", "x")); p == "" {
		t.Fatal("init --show-phrase did not print the phrase")
	}
	c = newCLI(t)
	if p := jsonOf[map[string]string](t, c.ok("init", "--show-phrase", "--json"))["phrase"]; len(strings.Fields(p)) != 12 {
		t.Fatalf("init --show-phrase --json: phrase %q", p)
	}
	// up's created event has it only when asked.
	c = newCLI(t)
	up := start(t, "--data", c.data, "up", "--json", "--show-phrase", "--no-lan", "--listen", "/ip4/127.0.0.1/tcp/0")
	line := printed(t, up, "the created event", func(l string) (string, bool) { return l, strings.Contains(l, `"event":"created"`) })
	if p := jsonOf[map[string]any](t, line)["phrase"]; p == nil || len(strings.Fields(p.(string))) != 12 {
		t.Fatalf("created event: %s", line)
	}
}
