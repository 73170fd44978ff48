package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mycel/internal/webdrive"
)

// Keystrokes types n keys (one every gap) at the end of the first line of
// the page titled title, open in both browsers, and returns for each the
// delay from the key in A to B painting it.
//
// How: A's page records, at each keydown, performance.timeOrigin +
// performance.now() (the key event as the page receives it). B's page
// watches the editor with a MutationObserver; when the first line grows,
// it records, in the next animation frame (the one that paints it), the
// same clock for every length reached. Both browsers run on this machine,
// so they share the clock. A delay is B's time for length L0+i+1 minus A's
// time of key i.
func (r *WebRig) Keystrokes(title string, n int, gap time.Duration) ([]time.Duration, KeyBreakdown, error) {
	var none KeyBreakdown
	for _, b := range []*webdrive.Browser{r.A, r.B} {
		if err := b.OpenPage(title); err != nil {
			return nil, none, err
		}
	}
	lines := webdrive.Quote(webdrive.Lines)
	if _, err := webdrive.Eval[bool](r.A, `(() => {
		window.keys = [];
		performance.setResourceTimingBufferSize(100000);
		performance.clearResourceTimings();
		document.addEventListener("keydown", () => window.keys.push(performance.timeOrigin + performance.now()), true);
		return true;
	})()`); err != nil {
		return nil, none, err
	}
	start, err := webdrive.Eval[int](r.B, fmt.Sprintf(`(() => {
		const len = () => document.querySelector(%s)?.textContent.length ?? 0;
		let max = len();
		window.seen = {};
		performance.setResourceTimingBufferSize(100000);
		performance.clearResourceTimings();
		new MutationObserver(() => {
			const n = len();
			if (n <= max) return;
			const from = max;
			max = n;
			requestAnimationFrame(() => {
				const t = performance.timeOrigin + performance.now();
				for (let k = from + 1; k <= n; k++) window.seen[k] = t;
			});
		}).observe(document.querySelector(%s), {subtree: true, childList: true, characterData: true});
		return max;
	})()`, lines, webdrive.Quote(webdrive.Editor)))
	if err != nil {
		return nil, none, err
	}
	if err := r.A.SelectEnd(0); err != nil {
		return nil, none, err
	}
	tick := time.NewTicker(gap) // the typist's pace
	defer tick.Stop()
	for i := range n {
		if err := r.A.Type(string(rune('a' + i%26))); err != nil {
			return nil, none, err
		}
		<-tick.C
	}
	if err := r.B.Within(60*time.Second).WaitFor("every key in B", fmt.Sprintf(`window.seen[%d] !== undefined`, start+n), `Object.keys(window.seen).length`); err != nil {
		return nil, none, err
	}
	keys, err := webdrive.Eval[[]float64](r.A, `window.keys`)
	if err != nil {
		return nil, none, err
	}
	seen, err := webdrive.Eval[map[string]float64](r.B, `window.seen`)
	if err != nil {
		return nil, none, err
	}
	if len(keys) != n {
		return nil, none, fmt.Errorf("the page in A saw %d keys, %d were typed", len(keys), n)
	}
	reqA, err := webdrive.Eval[[]request](r.A, requestsJS)
	if err != nil {
		return nil, none, err
	}
	reqB, err := webdrive.Eval[[]request](r.B, requestsJS)
	if err != nil {
		return nil, none, err
	}
	out := make([]time.Duration, n)
	var parts [5][]time.Duration
	for i, k := range keys {
		painted := seen[strconv.Itoa(start+i+1)]
		out[i] = msDuration(painted - k)
		// A's first request after the key sent it; B's last answer
		// before the paint brought it.
		a := slices.IndexFunc(reqA, func(q request) bool { return q.Start >= k })
		b := -1
		for j, q := range reqB {
			if q.End <= painted {
				b = j
			}
		}
		if a < 0 || b < 0 || reqB[b].Start < reqA[a].End {
			continue
		}
		for j, d := range []float64{reqA[a].Start - k, reqA[a].End - reqA[a].Start, reqB[b].Start - reqA[a].End, reqB[b].End - reqB[b].Start, painted - reqB[b].End} {
			parts[j] = append(parts[j], msDuration(d))
		}
	}
	med := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	return out, KeyBreakdown{Keys: len(parts[0]), Batch: med(parts[0]), Edit: med(parts[1]), Sync: med(parts[2]), Load: med(parts[3]), Show: med(parts[4])}, nil
}

// KeyBreakdown is where a keystroke's way from A to B goes, from the
// Resource Timing of the two pages' requests of the page (medians over the
// Keys keys matched to a request in each): the key until A sends the edit
// (the app's batching), A's edit request (the device merging and storing
// it), A's answer until B asks for the page (sync through the node, B's
// device storing it, the event stream telling B's app), B's request of
// the page, and its answer until B paints the page.
type KeyBreakdown struct {
	Keys                          int
	Batch, Edit, Sync, Load, Show time.Duration
}

// request is one request of the page's blocks, on the shared clock.
type request struct{ Start, End float64 }

const requestsJS = `performance.getEntriesByType("resource").filter(e => e.name.endsWith("/doc")).map(e => ({Start: performance.timeOrigin + e.startTime, End: performance.timeOrigin + e.responseEnd}))`

func msDuration(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// LongPage is the Markdown of a page of n paragraphs, and its last line.
func LongPage(n int) (string, string) {
	var sb strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&sb, "Paragraph %d of the long page, with a few words to lay out.\n\n", i)
	}
	return sb.String(), fmt.Sprintf("Paragraph %d of the long page, with a few words to lay out.", n)
}

// FirstPaint is one opening of a page in the app, timed inside the page
// (performance.now()): from the click on its row to the editor showing its
// last block, painted.
type FirstPaint struct {
	// Screen: click → the page's first blocks in the DOM → the frame
	// after it painted (what a person first sees: the app shows a long
	// page a screenful first, the rest a frame later).
	Screen time.Duration
	Total  time.Duration // click → last block in the DOM → the frame after it painted
	// Of that (Resource Timing of the GET of the page's blocks): click →
	// the request starts; the request, until its response has ended.
	Wait, Fetch time.Duration
	DOM         time.Duration // click → the last block in the DOM (then: style, layout, paint)
}

// OpenTimed loads the app afresh in A (no page open), clicks the row
// titled title and times until its last line reads last.
func (r *WebRig) OpenTimed(title, last string, blocks int) (FirstPaint, error) {
	base, err := webdrive.Eval[string](r.A, `location.origin + "/"`)
	if err != nil {
		return FirstPaint{}, err
	}
	if err := r.A.Login(base); err != nil { // the session cookie stays: this reloads the app
		return FirstPaint{}, err
	}
	row := fmt.Sprintf(`Array.from(document.querySelectorAll("#pages li")).find(li => li.textContent === %s)`, webdrive.Quote(title))
	if err := r.A.WaitFor("the row "+title, row, ""); err != nil {
		return FirstPaint{}, err
	}
	type timing struct{ Screen, Total, Wait, Fetch, DOM float64 }
	t, err := webdrive.Eval[timing](r.A, fmt.Sprintf(`(async () => {
		performance.clearResourceTimings();
		const done = () => {
			const ls = document.querySelectorAll(%[1]s);
			return ls.length === %[2]d && ls[ls.length - 1].textContent === %[3]s;
		};
		const t0 = performance.now();
		let screen = 0;
		const painted = new Promise(ok => {
			const first = () => document.querySelectorAll(%[1]s).length > 0;
			const at = () => requestAnimationFrame(() => setTimeout(() => { screen = performance.now(); ok(); }, 0));
			const mo = new MutationObserver(() => { if (first()) { mo.disconnect(); at(); } });
			mo.observe(document.querySelector("#page"), {subtree: true, childList: true});
		});
		(%[4]s).click();
		await new Promise(ok => {
			if (done()) return ok();
			const mo = new MutationObserver(() => { if (done()) { mo.disconnect(); ok(); } });
			mo.observe(document.querySelector("#page"), {subtree: true, childList: true, characterData: true});
		});
		await painted;
		const dom = performance.now();
		// The frame that paints it, then a task after that frame.
		await new Promise(ok => requestAnimationFrame(() => setTimeout(ok, 0)));
		const total = performance.now();
		const f = performance.getEntriesByType("resource").find(e => e.name.includes("/doc"));
		return {Screen: screen - t0, Total: total - t0, DOM: dom - t0, Wait: f ? f.startTime - t0 : 0, Fetch: f ? f.responseEnd - f.startTime : 0};
	})()`, webdrive.Quote(webdrive.Lines), blocks, webdrive.Quote(last), row))
	if err != nil {
		return FirstPaint{}, err
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return FirstPaint{Screen: ms(t.Screen), Total: ms(t.Total), Wait: ms(t.Wait), Fetch: ms(t.Fetch), DOM: ms(t.DOM)}, nil
}

// Bundle is the app's script as up serves it: bytes, and gzipped (the
// browser's CompressionStream, zlib's default level).
func (r *WebRig) Bundle() (raw, gzipped int, err error) {
	v, err := webdrive.Eval[[]int](r.A, `(async () => {
		const b = await (await fetch("/app.js")).arrayBuffer();
		const gz = await new Response(new Blob([b]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
		return [b.byteLength, gz.byteLength];
	})()`)
	if err != nil || len(v) != 2 {
		return 0, 0, fmt.Errorf("bundle size: %v", err)
	}
	return v[0], v[1], nil
}

// CPU is the processor time of processes over a wall time, as percent of
// one core.
type CPU struct {
	UpA, UpB, Node, BrowserA, BrowserB float64
}

// TypingCPU types into the first line of the open page in A, one key
// every gap for d, and measures the CPU of each up, the node and each
// browser (its whole process tree) meanwhile, from /proc/PID/stat.
func (r *WebRig) TypingCPU(d, gap time.Duration) (CPU, error) {
	if err := r.A.SelectEnd(0); err != nil {
		return CPU{}, err
	}
	type side struct {
		pid  int
		tree bool
		out  *float64
	}
	var c CPU
	sides := []side{{r.UpA.Process.Pid, false, &c.UpA}, {r.UpB.Process.Pid, false, &c.UpB}, {r.Node.Process.Pid, false, &c.Node},
		{r.A.PID(), true, &c.BrowserA}, {r.B.PID(), true, &c.BrowserB}}
	pids := func(s side) []int {
		if s.tree {
			return processTree(s.pid)
		}
		return []int{s.pid}
	}
	before := make([]map[int]time.Duration, len(sides))
	for i, s := range sides {
		before[i] = cpuTimes(pids(s))
	}
	began := time.Now()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for i := 0; time.Since(began) < d; i++ {
		if err := r.A.Type(string(rune('a' + i%26))); err != nil {
			return CPU{}, err
		}
		<-tick.C
	}
	wall := time.Since(began)
	for i, s := range sides {
		var used time.Duration
		for pid, t := range cpuTimes(pids(s)) {
			used += t - before[i][pid] // a process started meanwhile counts from 0
		}
		*s.out = 100 * used.Seconds() / wall.Seconds()
	}
	return c, nil
}

// cpuTimes reads utime+stime of each process (gone ones are left out).
func cpuTimes(pids []int) map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, pid := range pids {
		if st, ok := procStat(pid); ok {
			out[pid] = st.cpu
		}
	}
	return out
}

type stat struct {
	ppid int
	cpu  time.Duration
}

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// procStat parses /proc/PID/stat: the fields after the command name
// (which may hold spaces and parentheses) are state, ppid, … utime (14th
// field), stime (15th).
func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return stat{ppid: ppid, cpu: time.Duration(ut+st) * clockTick}, true
}

// processTree is root and all its descendants.
func processTree(root int) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := procStat(pid); ok {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
