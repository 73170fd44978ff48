package bench

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"mycel/internal/crdt"
)

// The crdt-benchmarks scenarios B1–B3 (github.com/dmonad/crdt-benchmarks,
// js-lib/b1.js, b2.js, b3.js) on the merge engine, as `mycel bench crdt`
// runs them and as peers/crdt.mjs runs them on Yjs, Automerge, Loro and
// diamond-types. How the JS suite's types map onto a mycel page:
//
//   - text (Y.Text, Automerge text): the text of one paragraph block,
//     created by a setup change every replica has before the clock starts
//     (the JS types exist without an operation);
//   - array: the top-level blocks, an element's value as its text; an
//     element is inserted at index i after BlockIDs()[i-1], the only
//     index-to-ID lookup the engine offers;
//   - map: the page's details (LWW registers of strings); B3.2's object
//     is stored as its JSON.
//
// Each call of the JS suite's insertText/deleteText/insertArray/setMap
// outside a transact is one change (Begin…Commit), as it is one update
// there; B2's transact is one change. Inputs are drawn with lib0's
// generator seeded 42 at the start of each scenario (the JS suite draws
// all scenarios from one generator, so its strings differ from these, not
// their lengths or distribution). Replicas are actors of 32 bytes, as device
// keys are.

// DefaultCRDTN is the JS suite's N.
const DefaultCRDTN = 6000

// CRDTResult is one run of a scenario, in the JS suite's quantities.
type CRDTResult struct {
	// Time is the suite's "(time)": the edits, delivering them to the
	// other replica(s) and checking that they agree.
	Time time.Duration
	// Encode is "(encodeTime)": MarshalState of the edited document.
	Encode time.Duration
	// DocSize is "(docSize)": the bytes of that state.
	DocSize int
	// Parse is "(parseTime)": UnmarshalState of it and reading the content
	// back (checked against the replica that was encoded).
	Parse time.Duration
}

// CRDTScenario is one scenario: ID and Title as in the JS suite ("B1.1",
// "Append N characters").
type CRDTScenario struct {
	ID, Title string
	run       func(n int) (CRDTResult, error)
}

// Run runs the scenario with n as the suite's N (B3: 20·⌊√n⌋ replicas).
// It fails if the replicas end up with other content than the suite
// checks for.
func (s CRDTScenario) Run(n int) (CRDTResult, error) {
	r, err := s.run(n)
	if err != nil {
		return r, fmt.Errorf("%s: %w", s.ID, err)
	}
	return r, nil
}

// B3Clients is the number of replicas of B3 for N = n.
func B3Clients(n int) int { return int(math.Floor(math.Sqrt(float64(n)))) * 20 }

// CRDTScenarios lists B1.1–B1.11, B2.1–B2.4 and B3.1–B3.5 in the suite's
// order.
func CRDTScenarios() []CRDTScenario {
	return []CRDTScenario{
		{"B1.1", "Append N characters", b11},
		{"B1.2", "Insert string of length N", b12},
		{"B1.3", "Prepend N characters", b13},
		{"B1.4", "Insert N characters at random positions", func(n int) (CRDTResult, error) { return b1Random(n, 1, 1) }},
		{"B1.5", "Insert N words at random positions", func(n int) (CRDTResult, error) { return b1Random(n, 2, 10) }},
		{"B1.6", "Insert string, then delete it", b16},
		{"B1.7", "Insert/Delete strings at random positions", b17},
		{"B1.8", "Append N numbers", func(n int) (CRDTResult, error) { return b1Numbers(n, false, false) }},
		{"B1.9", "Insert Array of N numbers", func(n int) (CRDTResult, error) { return b1Numbers(n, true, false) }},
		{"B1.10", "Prepend N numbers", func(n int) (CRDTResult, error) { return b1Numbers(n, false, true) }},
		{"B1.11", "Insert N numbers at random positions", b111},
		{"B2.1", "Concurrently insert string of length N at index 0", b21},
		{"B2.2", "Concurrently insert N characters at random positions", func(n int) (CRDTResult, error) { return b2Random(n, 1, 1, false, true) }},
		{"B2.3", "Concurrently insert N words at random positions", func(n int) (CRDTResult, error) { return b2Random(n, 3, 9, false, false) }},
		{"B2.4", "Concurrently insert & delete", func(n int) (CRDTResult, error) { return b2Random(n, 3, 9, true, false) }},
		{"B3.1", "20√N clients concurrently set number in Map", func(n int) (CRDTResult, error) {
			return b3(n, mapView, func(i int) edit { return edit{kind: setMap, s: strconv.Itoa(i)} })
		}},
		{"B3.2", "20√N clients concurrently set Object in Map", func(n int) (CRDTResult, error) {
			return b3(n, mapView, func(i int) edit {
				v, _ := json.Marshal(map[string]string{"name": strconv.Itoa(i), "address": "here"})
				return edit{kind: setMap, s: string(v)}
			})
		}},
		{"B3.3", "20√N clients concurrently set String in Map", func(n int) (CRDTResult, error) {
			return b3(n, mapView, func(i int) edit { return edit{kind: setMap, s: strings.Repeat(strconv.Itoa(i), B3Clients(n))} })
		}},
		{"B3.4", "20√N clients concurrently insert text in Array", func(n int) (CRDTResult, error) {
			return b3(n, arrayView, func(i int) edit { return edit{kind: insertArray, elems: []string{strconv.Itoa(i)}} })
		}},
		{"B3.5", "20√N clients concurrently insert text", func(n int) (CRDTResult, error) {
			return b3(n, textView, func(i int) edit { return edit{kind: insertText, s: strconv.Itoa(i)} })
		}},
	}
}

// editKind is which of the JS suite's calls an edit is.
type editKind uint8

const (
	insertText editKind = iota
	deleteText
	insertArray
	setMap
)

type edit struct {
	kind  editKind
	pos   int      // index (text, array)
	n     int      // characters deleted
	s     string   // text inserted, map value
	elems []string // array elements inserted
}

// view is what a scenario compares between replicas: the text, the array
// or the map.
type view uint8

const (
	textView view = iota
	arrayView
	mapView
)

// replica is one of the suite's documents.
type replica struct {
	d     *crdt.Doc
	actor string
	blk   crdt.ID // the text's block (textView)
}

func newReplica(i int) *replica {
	k := sha256.Sum256([]byte("crdt-benchmarks user " + strconv.Itoa(i)))
	return &replica{d: crdt.NewDoc(), actor: string(k[:])}
}

// setup creates the text's block on r, as a change the others receive
// before the clock starts.
func (r *replica) setup(v view) *crdt.Change {
	if v != textView {
		return nil
	}
	tx := r.d.Begin(r.actor)
	r.blk = tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	return tx.Commit()
}

// receive applies ch (from setup, or a peer's edit); nil is nothing.
func (r *replica) receive(ch *crdt.Change, blk crdt.ID) error {
	r.blk = blk
	if ch == nil {
		return nil
	}
	return r.d.Apply(ch)
}

// do makes e in tx.
func (r *replica) do(tx *crdt.Tx, e edit) {
	switch e.kind {
	case insertText:
		tx.InsertText(r.blk, e.pos, e.s)
	case deleteText:
		tx.DeleteText(r.blk, e.pos, e.n)
	case insertArray:
		var after crdt.ID
		if e.pos > 0 {
			after = r.d.BlockIDs()[e.pos-1]
		}
		for _, v := range e.elems {
			after = tx.InsertBlock(crdt.ID{}, after, crdt.TypeParagraph)
			tx.InsertText(after, 0, v)
		}
	case setMap:
		tx.SetDetail("v", e.s)
	}
}

// change makes es as one change.
func (r *replica) change(es ...edit) *crdt.Change {
	tx := r.d.Begin(r.actor)
	for _, e := range es {
		r.do(tx, e)
	}
	return tx.Commit()
}

// read renders what v compares.
func read(d *crdt.Doc, v view, blk crdt.ID) string {
	switch v {
	case textView:
		return d.Text(blk)
	case arrayView:
		var b strings.Builder
		for _, x := range d.Blocks() {
			b.WriteString(x.Text)
			b.WriteByte('\n')
		}
		return b.String()
	default:
		det := d.Details()
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(det)) {
			fmt.Fprintf(&b, "%s=%s\n", k, det[k])
		}
		return b.String()
	}
}

func arrayText(elems []string) string {
	var b strings.Builder
	for _, e := range elems {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// encodeAndParse measures the last two quantities: r's state encoded, and a
// fresh document loading it, whose content must equal want.
func encodeAndParse(res *CRDTResult, r *replica, v view, want string) error {
	runtime.GC()
	start := time.Now()
	state := r.d.MarshalState()
	res.Encode = time.Since(start)
	res.DocSize = len(state)
	runtime.GC()
	start = time.Now()
	d, err := crdt.UnmarshalState(state)
	if err != nil {
		return fmt.Errorf("load the encoded state: %w", err)
	}
	got := read(d, v, r.blk)
	res.Parse = time.Since(start)
	if got != want {
		return fmt.Errorf("the loaded state differs from the replica encoded (%d bytes of content, want %d)", len(got), len(want))
	}
	return nil
}

// b1 is the B1 template: replica 1 makes each element of input as its own
// change; replica 2 receives them all; both must show want.
func b1(input [][]edit, v view, want string) (CRDTResult, error) {
	var res CRDTResult
	r1, r2 := newReplica(1), newReplica(2)
	if err := r2.receive(r1.setup(v), r1.blk); err != nil {
		return res, err
	}
	changes := make([]*crdt.Change, 0, len(input))
	runtime.GC()
	start := time.Now()
	for _, es := range input {
		for _, e := range es {
			changes = append(changes, r1.change(e))
		}
	}
	for _, ch := range changes {
		if err := r2.d.Apply(ch); err != nil {
			return res, err
		}
	}
	got1, got2 := read(r1.d, v, r1.blk), read(r2.d, v, r2.blk)
	res.Time = time.Since(start)
	if got1 != got2 || got1 != want {
		return res, fmt.Errorf("replicas show %d and %d bytes, want %d, equal", len(got1), len(got2), len(want))
	}
	return res, encodeAndParse(&res, r2, v, want)
}

func b11(n int) (CRDTResult, error) {
	s := newLib0Rand(42).word(n, n)
	input := make([][]edit, len(s))
	for i := range s {
		input[i] = []edit{{kind: insertText, pos: i, s: s[i : i+1]}}
	}
	return b1(input, textView, s)
}

func b12(n int) (CRDTResult, error) {
	s := newLib0Rand(42).word(n, n)
	return b1([][]edit{{{kind: insertText, s: s}}}, textView, s)
}

func b13(n int) (CRDTResult, error) {
	s := newLib0Rand(42).word(n, n)
	input := make([][]edit, len(s))
	for i := range s { // the reversed string, each character at 0
		input[i] = []edit{{kind: insertText, s: s[len(s)-1-i : len(s)-i]}}
	}
	return b1(input, textView, s)
}

// b1Random inserts n words of lo–hi letters at random positions (B1.4,
// B1.5).
func b1Random(n, lo, hi int) (CRDTResult, error) {
	g := newLib0Rand(42)
	var s []byte
	input := make([][]edit, n)
	for i := range input {
		at := g.int(0, len(s))
		w := g.word(lo, hi)
		s = slices.Insert(s, at, []byte(w)...)
		input[i] = []edit{{kind: insertText, pos: at, s: w}}
	}
	return b1(input, textView, string(s))
}

func b16(n int) (CRDTResult, error) {
	s := newLib0Rand(42).word(n, n)
	return b1([][]edit{{{kind: insertText, s: s}, {kind: deleteText, n: len(s)}}}, textView, "")
}

func b17(n int) (CRDTResult, error) {
	g := newLib0Rand(42)
	var s []byte
	input := make([][]edit, n)
	for i := range input {
		at := g.int(0, len(s))
		if len(s) == at || g.bool() {
			w := g.word(2, 10)
			s = slices.Insert(s, at, []byte(w)...)
			input[i] = []edit{{kind: insertText, pos: at, s: w}}
		} else {
			del := g.int(1, min(9, len(s)-at))
			s = slices.Delete(s, at, at+del)
			input[i] = []edit{{kind: deleteText, pos: at, n: del}}
		}
	}
	return b1(input, textView, string(s))
}

// b1Numbers appends n numbers one by one (B1.8), as one insert (B1.9) or
// prepends them (B1.10).
func b1Numbers(n int, whole, prepend bool) (CRDTResult, error) {
	g := newLib0Rand(42)
	nums := make([]string, n)
	for i := range nums {
		nums[i] = strconv.Itoa(g.int(0, 0x7fffffff))
	}
	if whole {
		return b1([][]edit{{{kind: insertArray, elems: nums}}}, arrayView, arrayText(nums))
	}
	input := make([][]edit, n)
	for i, x := range nums {
		input[i] = []edit{{kind: insertArray, pos: i, elems: []string{x}}}
		if prepend {
			input[i][0].pos = 0
		}
	}
	want := slices.Clone(nums)
	if prepend {
		slices.Reverse(want)
	}
	return b1(input, arrayView, arrayText(want))
}

func b111(n int) (CRDTResult, error) {
	g := newLib0Rand(42)
	var nums []string
	input := make([][]edit, n)
	for i := range input {
		at := g.int(0, len(nums))
		x := strconv.Itoa(g.int(0, 0x7fffffff))
		nums = slices.Insert(nums, at, x)
		input[i] = []edit{{kind: insertArray, pos: at, elems: []string{x}}}
	}
	return b1(input, arrayView, arrayText(nums))
}

// b2 is the B2 template. Replica 1 types a 100-letter text, which replica
// 2 receives; then, timed, each makes its edits in one change. As in the JS
// suite, where updates are delivered as they are made, replica 2 receives
// replica 1's change before it makes its own (at positions drawn on its own
// copy of the text), and replica 1 then receives replica 2's. wantLen, if
// not negative, is the length both must end with.
func b2(initText string, edits1, edits2 []edit, wantLen int) (CRDTResult, error) {
	var res CRDTResult
	r1, r2 := newReplica(1), newReplica(2)
	tx := r1.d.Begin(r1.actor) // the block and the initial text in one change
	r1.blk = tx.InsertBlock(crdt.ID{}, crdt.ID{}, crdt.TypeParagraph)
	tx.InsertText(r1.blk, 0, initText)
	if err := r2.receive(tx.Commit(), r1.blk); err != nil {
		return res, err
	}
	runtime.GC()
	start := time.Now()
	if err := r2.d.Apply(r1.change(edits1...)); err != nil {
		return res, err
	}
	if err := r1.d.Apply(r2.change(edits2...)); err != nil {
		return res, err
	}
	got1, got2 := r1.d.Text(r1.blk), r2.d.Text(r2.blk)
	res.Time = time.Since(start)
	if got1 != got2 {
		return res, fmt.Errorf("the two replicas differ")
	}
	if wantLen >= 0 && len([]rune(got1)) != wantLen {
		return res, fmt.Errorf("text of %d characters, want %d", len([]rune(got1)), wantLen)
	}
	return res, encodeAndParse(&res, r1, textView, got2)
}

func b21(n int) (CRDTResult, error) {
	g := newLib0Rand(42)
	init := g.word(100, 100)
	s1, s2 := g.word(n, n), g.word(n, n)
	return b2(init, []edit{{kind: insertText, s: s1}}, []edit{{kind: insertText, s: s2}}, 2*n+100)
}

// b2Random is B2.2 (letters), B2.3 (words) and B2.4 (words, and after each
// another word or a delete).
func b2Random(n, lo, hi int, deletes, checkLen bool) (CRDTResult, error) {
	g := newLib0Rand(42)
	init := g.word(100, 100)
	gen := func() []edit {
		s := []byte(init)
		var es []edit
		for range n {
			at := g.int(0, len(s))
			w := g.word(lo, hi)
			s = slices.Insert(s, at, []byte(w)...)
			es = append(es, edit{kind: insertText, pos: at, s: w})
			if !deletes {
				continue
			}
			if len(s) == at || g.bool() {
				w := g.word(2, 10)
				s = slices.Insert(s, at, []byte(w)...)
				es = append(es, edit{kind: insertText, pos: at, s: w})
			} else {
				del := g.int(1, min(9, len(s)-at))
				s = slices.Delete(s, at, at+del)
				es = append(es, edit{kind: deleteText, pos: at, n: del})
			}
		}
		return es
	}
	e1 := gen()
	e2 := gen()
	wantLen := -1
	if checkLen {
		wantLen = 2*n + 100
	}
	return b2(init, e1, e2, wantLen)
}

// b3 is the B3 template: 20·⌊√n⌋ replicas each make one change (edit(i));
// replica 0 receives all of them, then, timed, replica 1 does; the two
// must agree. A replica skips its own change, as the object layer does by
// change ID.
func b3(n int, v view, edit func(i int) edit) (CRDTResult, error) {
	var res CRDTResult
	m := B3Clients(n)
	if m < 2 {
		return res, fmt.Errorf("n = %d gives fewer than 2 clients", n)
	}
	setup := newReplica(-1)
	sc := setup.setup(v)
	rs := make([]*replica, m)
	changes := make([]*crdt.Change, m)
	for i := range rs {
		rs[i] = newReplica(i)
		if err := rs[i].receive(sc, setup.blk); err != nil {
			return res, err
		}
		changes[i] = rs[i].change(edit(i))
	}
	deliver := func(r int) error {
		for i, ch := range changes {
			if i != r {
				if err := rs[r].d.Apply(ch); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := deliver(0); err != nil {
		return res, err
	}
	runtime.GC()
	start := time.Now()
	if err := deliver(1); err != nil {
		return res, err
	}
	got0, got1 := read(rs[0].d, v, rs[0].blk), read(rs[1].d, v, rs[1].blk)
	res.Time = time.Since(start)
	if got0 != got1 {
		return res, fmt.Errorf("replicas 0 and 1 differ")
	}
	return res, encodeAndParse(&res, rs[0], v, got0)
}
