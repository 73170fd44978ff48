package crdt

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// The Peritext paper's test cases (inkandswitch/peritext, test/micromerge.ts),
// transcribed: two devices start from the same text, each runs its ops as
// one change, they exchange changes, and both must show exactly the
// expected formatted spans. Mark names follow mycel's: strong → bold,
// em → italic.

// pOp is one op of a Peritext case, on character offsets.
type pOp struct {
	action     string // insert, delete, addMark, removeMark
	index      int    // insert, delete
	count      int    // delete
	text       string // insert
	start, end int    // marks: [start, end)
	mark       string
	value      string // link URL
}

// pSpan is a run of text with the marks it shows (type → value).
type pSpan struct {
	text  string
	marks map[string]string
}

type peritextCase struct {
	name     string
	initial  string // default "The Peritext editor"
	pre      []pOp  // on device 1, synced to device 2 before the rest
	ops1     []pOp
	ops2     []pOp
	expected []pSpan
}

func runPeritext(tx *Tx, blk ID, ops []pOp) {
	for _, o := range ops {
		switch o.action {
		case "insert":
			tx.InsertText(blk, o.index, o.text)
		case "delete":
			tx.DeleteText(blk, o.index, o.count)
		case "addMark":
			tx.Mark(blk, o.start, o.end, o.mark, o.value)
		case "removeMark":
			tx.Unmark(blk, o.start, o.end, o.mark)
		default:
			panic("unknown action " + o.action)
		}
	}
}

// formatted renders a block's text as spans of equal marks.
func formatted(d *Doc, blk ID) []pSpan {
	var b *Block
	for _, x := range d.Blocks() {
		if x.ID == blk {
			b = x
		}
	}
	rs := []rune(b.Text)
	at := make([]map[string]string, len(rs))
	for i := range at {
		at[i] = map[string]string{}
	}
	for _, m := range b.Marks {
		for k := m.Start; k < m.End; k++ {
			if _, dup := at[k][m.Type]; dup {
				panic(fmt.Sprintf("two %s marks on character %d", m.Type, k))
			}
			at[k][m.Type] = m.Value
		}
	}
	var out []pSpan
	for i, r := range rs {
		if n := len(out) - 1; n >= 0 && reflect.DeepEqual(out[n].marks, at[i]) {
			out[n].text += string(r)
			continue
		}
		out = append(out, pSpan{string(r), at[i]})
	}
	return out
}

func showSpans(ss []pSpan) string {
	var b strings.Builder
	for _, s := range ss {
		keys := make([]string, 0, len(s.marks))
		for k, v := range s.marks {
			if v != "" {
				k += "=" + v
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "[%q %s] ", s.text, strings.Join(keys, ","))
	}
	return b.String()
}

func testPeritext(t *testing.T, tc peritextCase) {
	t.Helper()
	initial := tc.initial
	if initial == "" {
		initial = "The Peritext editor"
	}
	s := newTextSim(2, initial)
	if len(tc.pre) > 0 {
		s.edit(0, func(tx *Tx) { runPeritext(tx, s.blk, tc.pre) })
		if err := s.sync(1, first); err != nil {
			t.Fatal(err)
		}
	}
	s.edit(0, func(tx *Tx) { runPeritext(tx, s.blk, tc.ops1) })
	s.edit(1, func(tx *Tx) { runPeritext(tx, s.blk, tc.ops2) })
	for dev := range 2 {
		if err := s.sync(dev, first); err != nil {
			t.Fatal(err)
		}
	}
	want := tc.expected
	for i := range want {
		if want[i].marks == nil {
			want[i].marks = map[string]string{}
		}
	}
	for dev := range 2 {
		if got := formatted(s.docs[dev], s.blk); !reflect.DeepEqual(got, want) {
			t.Fatalf("device %d shows %s\nwant %s", dev, showSpans(got), showSpans(want))
		}
	}
	if string(s.docs[0].MarshalState()) != string(s.docs[1].MarshalState()) {
		t.Fatal("the devices' states differ")
	}
	back, err := UnmarshalState(s.docs[0].MarshalState())
	if err != nil {
		t.Fatal(err)
	}
	if got := formatted(back, s.blk); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a state round trip: %s", showSpans(got))
	}
}

var (
	bold   = map[string]string{MarkBold: ""}
	italic = map[string]string{MarkItalic: ""}
)

func both(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func TestPeritext(t *testing.T) {
	for _, tc := range []peritextCase{
		{
			name:    "handles concurrent deletion and insertion",
			initial: "abrxabra",
			ops1:    []pOp{{action: "delete", index: 3, count: 1}, {action: "insert", index: 4, text: "ca"}},
			ops2:    []pOp{{action: "insert", index: 5, text: "da"}},
			expected: []pSpan{
				{text: "abracadabra"},
			},
		},
		{
			name:     "flattens local formatting operations into flat spans",
			ops1:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}},
			expected: []pSpan{{text: "The "}, {text: "Peritext", marks: bold}, {text: " editor"}},
		},
		{
			name:     "merges concurrent overlapping bold and italic",
			ops1:     []pOp{{action: "addMark", start: 0, end: 12, mark: MarkBold}},
			ops2:     []pOp{{action: "addMark", start: 4, end: 19, mark: MarkItalic}},
			expected: []pSpan{{text: "The ", marks: bold}, {text: "Peritext", marks: both(bold, italic)}, {text: " editor", marks: italic}},
		},
		{
			name:     "merges insert at end of doc and italic to end of doc",
			ops1:     []pOp{{action: "addMark", start: 0, end: 12, mark: MarkBold}, {action: "insert", index: 19, text: " is great!"}},
			ops2:     []pOp{{action: "addMark", start: 4, end: 19, mark: MarkItalic}},
			expected: []pSpan{{text: "The ", marks: bold}, {text: "Peritext", marks: both(bold, italic)}, {text: " editor is great!", marks: italic}},
		},
		{
			name:     "merges concurrent bold and unbold",
			ops1:     []pOp{{action: "addMark", start: 0, end: 12, mark: MarkBold}},
			ops2:     []pOp{{action: "removeMark", start: 4, end: 19, mark: MarkBold}},
			expected: []pSpan{{text: "The ", marks: bold}, {text: "Peritext editor"}},
		},
		{
			name:     "merges concurrent bold and unbold where unbold is inside the bold",
			ops1:     []pOp{{action: "addMark", start: 0, end: 19, mark: MarkBold}},
			ops2:     []pOp{{action: "removeMark", start: 4, end: 12, mark: MarkBold}},
			expected: []pSpan{{text: "The ", marks: bold}, {text: "Peritext"}, {text: " editor", marks: bold}},
		},
		{
			name:     "merges concurrent bold and unbold where unbold is one character",
			ops1:     []pOp{{action: "addMark", start: 0, end: 19, mark: MarkBold}},
			ops2:     []pOp{{action: "removeMark", start: 4, end: 5, mark: MarkBold}},
			expected: []pSpan{{text: "The ", marks: bold}, {text: "P"}, {text: "eritext editor", marks: bold}},
		},
		{
			name:     "handles spans that have been collapsed to zero width",
			pre:      []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}, {action: "delete", index: 4, count: 8}},
			ops1:     []pOp{{action: "insert", index: 4, text: "x"}},
			expected: []pSpan{{text: "The x editor"}},
		},
		{
			name:     "grows a bold span to the right",
			ops2:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}, {action: "insert", index: 12, text: "!"}},
			expected: []pSpan{{text: "The "}, {text: "Peritext!", marks: bold}, {text: " editor"}},
		},
		{
			name:     "doesn't grow a bold span to the left",
			ops2:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}, {action: "insert", index: 4, text: "!"}},
			expected: []pSpan{{text: "The !"}, {text: "Peritext", marks: bold}, {text: " editor"}},
		},
		{
			name:     "doesn't grow a link to the right",
			ops2:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "inkandswitch.com"}, {action: "insert", index: 12, text: "!"}},
			expected: []pSpan{{text: "The "}, {text: "Peritext", marks: map[string]string{MarkLink: "inkandswitch.com"}}, {text: "! editor"}},
		},
		{
			name:     "doesn't grow a link to the left",
			ops2:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "inkandswitch.com"}, {action: "insert", index: 4, text: "!"}},
			expected: []pSpan{{text: "The !"}, {text: "Peritext", marks: map[string]string{MarkLink: "inkandswitch.com"}}, {text: " editor"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { testPeritext(t, tc) })
	}
}
