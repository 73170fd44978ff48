package main

import (
	"slices"
	"testing"
	"time"

	"mycel/internal/bench"
	"mycel/internal/webdrive"
)

// 'mycel bench web', small: every measurement is there and plausible.
func TestBenchWeb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node, two devices and two browsers")
	}
	if _, err := webdrive.Find(); err != nil {
		t.Skip(err)
	}
	c := newCLI(t)
	r := jsonOf[map[string]float64](t, c.ok("bench", "web", "--keystrokes", "5", "--blocks", "50", "--runs", "1", "--typing", "1s", "--json"))
	for _, k := range []string{"keystroke_p50_ms", "keystroke_p99_ms", "first_paint_ms", "first_paint_fetch_ms", "cpu_up_a_pct", "cpu_browser_a_pct", "bundle_bytes", "bundle_gzip_bytes"} {
		if r[k] <= 0 {
			t.Errorf("%s = %v", k, r[k])
		}
	}
	if r["keystrokes"] != 5 || r["blocks"] != 50 || r["bundle_gzip_bytes"] >= r["bundle_bytes"] {
		t.Errorf("bench web: %v", r)
	}
}

// BenchmarkWebKeystroke: a key typed in browser A until browser B paints
// it, through two devices and a node (see 'mycel bench web'); keys are
// typed one every 100 ms, so run it with -benchtime=200x, say.
func BenchmarkWebKeystroke(b *testing.B) {
	chromium, err := webdrive.Find()
	if err != nil {
		b.Skip(err)
	}
	rig, err := bench.StartWebRig(b.Context(), bin, chromium, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer rig.Close()
	if _, err := rig.NewPage("Keystrokes", "Typed here: "); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	ds, _, err := rig.Keystrokes("Keystrokes", b.N, 100*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(ds[min(len(ds)-1, len(ds)*99/100)])/float64(time.Millisecond), "p99-ms")
}
