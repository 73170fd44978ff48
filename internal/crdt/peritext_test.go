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
// em → italic, link (attrs.url) → link with the URL as value. Peritext's
// doc0 and doc1 are devices 0 and 1 (ops1, ops2): concurrent ops get equal
// counters in both, and the greater actor wins. All 44 cases are here but
// the three on comments (see the table); the patch cases check the text
// the devices end with, and the cursor cases are TestPeritextCursors.

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

func link(url string) map[string]string { return map[string]string{MarkLink: url} }

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
			name:     "can insert and delete text",
			initial:  "abcde",
			ops1:     []pOp{{action: "delete", index: 0, count: 3}},
			expected: []pSpan{{text: "de"}},
		},
		{
			name:     "records local changes in the deps clock",
			initial:  "a",
			ops2:     []pOp{{action: "insert", index: 1, text: "b"}},
			expected: []pSpan{{text: "ab"}},
		},
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
		{
			name: "grows only bold, when bold and link end at the same position",
			ops2: []pOp{
				{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "inkandswitch.com"},
				{action: "addMark", start: 4, end: 12, mark: MarkBold},
				{action: "insert", index: 12, text: "!"},
			},
			expected: []pSpan{{text: "The "}, {text: "Peritext", marks: both(bold, link("inkandswitch.com"))}, {text: "!", marks: bold}, {text: " editor"}},
		},
		{
			name:    "grows adjacent bold and unbold spans correctly",
			initial: "ABCDE",
			ops1: []pOp{
				{action: "addMark", start: 0, end: 5, mark: MarkBold},
				{action: "removeMark", start: 1, end: 4, mark: MarkBold},
				{action: "insert", index: 1, text: "F"},
				{action: "insert", index: 5, text: "G"},
			},
			expected: []pSpan{{text: "AF", marks: bold}, {text: "BCDG"}, {text: "E", marks: bold}},
		},
		{
			// mycel's own: the start anchor's side of typingPoint.
			name:     "text typed before a bold word whose first letter is deleted stays plain",
			initial:  "ABCD",
			ops1:     []pOp{{action: "addMark", start: 1, end: 3, mark: MarkBold}, {action: "delete", index: 1, count: 1}, {action: "insert", index: 1, text: "X"}},
			expected: []pSpan{{text: "AX"}, {text: "C", marks: bold}, {text: "D"}},
		},
		{
			// mycel's own: a link that ends on a deleted letter, then a bold
			// that starts on the next deleted one: the text is in neither.
			name:    "text typed between a link's deleted end and a bold's deleted start is in neither",
			initial: "ABCDEF",
			ops1: []pOp{{action: "addMark", start: 0, end: 2, mark: MarkLink, value: "u"}, {action: "addMark", start: 2, end: 5, mark: MarkBold},
				{action: "delete", index: 1, count: 2}, {action: "insert", index: 1, text: "X"}},
			expected: []pSpan{{text: "A", marks: link("u")}, {text: "X"}, {text: "DE", marks: bold}, {text: "F"}},
		},
		{
			// it.skip upstream: Micromerge fails it. Text typed after a link
			// whose last character is deleted goes after that tombstone
			// (typingPoint), so the link does not grow.
			name:    "handles growth behavior for spans where the boundary is a tombstone",
			initial: "ABCDE",
			ops1: []pOp{
				{action: "addMark", start: 1, end: 4, mark: MarkLink, value: "inkandswitch.com"},
				{action: "delete", index: 1, count: 1},
				{action: "delete", index: 2, count: 1},
				{action: "insert", index: 2, text: "F"},
			},
			expected: []pSpan{{text: "A"}, {text: "C", marks: link("inkandswitch.com")}, {text: "FE"}},
		},
		// span growing behavior with concurrent edits
		{
			name:     "merges concurrent bold and insertion at the mark boundary",
			ops1:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}},
			ops2:     []pOp{{action: "insert", index: 4, text: "*"}, {action: "insert", index: 13, text: "*"}},
			expected: []pSpan{{text: "The *"}, {text: "Peritext*", marks: bold}, {text: " editor"}},
		},
		{
			name:     "handles insertion where one mark ends and another begins",
			ops1:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}, {action: "addMark", start: 12, end: 19, mark: MarkItalic}},
			ops2:     []pOp{{action: "insert", index: 12, text: "[1]"}},
			expected: []pSpan{{text: "The "}, {text: "Peritext[1]", marks: bold}, {text: " editor", marks: italic}},
		},
		{
			name:     "handles an insertion at a boundary between bold and unbolded spans",
			initial:  "AC",
			ops1:     []pOp{{action: "addMark", start: 0, end: 2, mark: MarkBold}, {action: "removeMark", start: 1, end: 2, mark: MarkBold}},
			ops2:     []pOp{{action: "insert", index: 1, text: "B"}},
			expected: []pSpan{{text: "AB", marks: bold}, {text: "C"}},
		},
		{
			name:     "handles an insertion at boundary between unbolded and bold spans",
			initial:  "AC",
			ops1:     []pOp{{action: "addMark", start: 0, end: 2, mark: MarkBold}, {action: "removeMark", start: 0, end: 1, mark: MarkBold}},
			ops2:     []pOp{{action: "insert", index: 1, text: "B"}},
			expected: []pSpan{{text: "AB"}, {text: "C", marks: bold}},
		},
		{
			name:     "handles concurrent adjacent formatting ops",
			initial:  "ABCDE",
			ops1:     []pOp{{action: "addMark", start: 1, end: 2, mark: MarkBold}},
			ops2:     []pOp{{action: "addMark", start: 2, end: 3, mark: MarkBold}},
			expected: []pSpan{{text: "A"}, {text: "BC", marks: bold}, {text: "DE"}},
		},
		{
			name:    "handles an addMark boundary that is a tombstone",
			initial: "The *Peritext* editor",
			ops1: []pOp{
				{action: "addMark", start: 4, end: 14, mark: MarkBold},
				{action: "delete", index: 4, count: 1},
				{action: "delete", index: 12, count: 1},
			},
			ops2:     []pOp{{action: "insert", index: 5, text: "_"}, {action: "insert", index: 14, text: "_"}},
			expected: []pSpan{{text: "The "}, {text: "_Peritext_", marks: bold}, {text: " editor"}},
		},
		{
			name:     "handles an insertion into a deleted span with mark",
			pre:      []pOp{{action: "addMark", start: 4, end: 12, mark: MarkBold}},
			ops1:     []pOp{{action: "delete", index: 4, count: 8}},
			ops2:     []pOp{{action: "delete", index: 5, count: 3}, {action: "insert", index: 5, text: "ara"}},
			expected: []pSpan{{text: "The "}, {text: "ara", marks: bold}, {text: " editor"}},
		},
		{
			name:     "handles formatting on a deleted span",
			ops1:     []pOp{{action: "delete", index: 4, count: 9}},
			ops2:     []pOp{{action: "addMark", start: 5, end: 11, mark: MarkBold}},
			expected: []pSpan{{text: "The editor"}},
		},
		{
			name:     "handles formatting on a single character",
			ops2:     []pOp{{action: "addMark", start: 4, end: 5, mark: MarkBold}},
			expected: []pSpan{{text: "The "}, {text: "P", marks: bold}, {text: "eritext editor"}},
		},
		{
			name:    "handles adding marks to the end of a doc when there are tombstones at the end",
			initial: "ABCDE",
			ops1: []pOp{
				{action: "addMark", start: 2, end: 4, mark: MarkLink, value: "A.com"},
				{action: "delete", index: 1, count: 2},
				{action: "delete", index: 2, count: 1},
			},
			ops2:     []pOp{{action: "addMark", start: 3, end: 5, mark: MarkLink, value: "A.com"}},
			expected: []pSpan{{text: "A"}, {text: "D", marks: link("A.com")}},
		},
		// patches (describe.skip upstream): they check the incremental
		// patches; here, the text both devices end with.
		{
			name:     "produces the correct patch for applying a simple insertion",
			ops1:     []pOp{{action: "insert", index: 7, text: "a"}},
			expected: []pSpan{{text: "The Peraitext editor"}},
		},
		{
			name:     "produces a patch with adjusted insertion index on concurrent inserts",
			ops1:     []pOp{{action: "insert", index: 1, text: "abc"}},
			ops2:     []pOp{{action: "insert", index: 2, text: "b"}},
			expected: []pSpan{{text: "Tabchbe Peritext editor"}},
		},
		{
			name:     "produces the correct patch for applying a simple deletion",
			ops1:     []pOp{{action: "delete", index: 5, count: 1}},
			expected: []pSpan{{text: "The Pritext editor"}},
		},
		{
			name:     "turns a multi-char deletion into multiple single char deletions",
			ops1:     []pOp{{action: "delete", index: 5, count: 2}},
			expected: []pSpan{{text: "The Pitext editor"}},
		},
		// comments: left out. The three cases ("returns a single comment in
		// the flattened spans", "correctly flattens two comments from the
		// same user", "overlaps two comments from different users") mark
		// text with comment ids, and a character shows every comment over
		// it; mycel has no comment mark, and its marks show one value per
		// type (the greatest op wins), so overlapping comments cannot be
		// expressed.
		// links
		{
			name:     "returns a single link in the flattened spans",
			ops1:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "https://inkandswitch.com"}},
			expected: []pSpan{{text: "The "}, {text: "Peritext", marks: link("https://inkandswitch.com")}, {text: " editor"}},
		},
		{
			// Peritext's doc1 is device 1 here: equal counters, the greater
			// actor wins in both.
			name:     "arbitrarily chooses one link as the winner when fully overlapping",
			ops1:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "https://inkandswitch.com"}},
			ops2:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "https://google.com"}},
			expected: []pSpan{{text: "The "}, {text: "Peritext", marks: link("https://google.com")}, {text: " editor"}},
		},
		{
			name:     "arbitrarily chooses one link as the winner when partially overlapping",
			ops1:     []pOp{{action: "addMark", start: 0, end: 12, mark: MarkLink, value: "https://inkandswitch.com"}},
			ops2:     []pOp{{action: "addMark", start: 4, end: 19, mark: MarkLink, value: "https://google.com"}},
			expected: []pSpan{{text: "The ", marks: link("https://inkandswitch.com")}, {text: "Peritext editor", marks: link("https://google.com")}},
		},
		{
			name:     "converges when two concurrent links end at the same place",
			ops1:     []pOp{{action: "addMark", start: 11, end: 12, mark: MarkLink, value: "https://inkandswitch.com"}},
			ops2:     []pOp{{action: "addMark", start: 4, end: 12, mark: MarkLink, value: "https://google.com"}},
			expected: []pSpan{{text: "The "}, {text: "Peritext", marks: link("https://google.com")}, {text: " editor"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) { testPeritext(t, tc) })
	}
}

// The suite's cursor cases: mycel has no cursor API, but a mark's anchor is
// one (a character's ID, resolved to the visible characters before it), so
// they run on the text's own lookups: a cursor on character 5 of "The
// Peritext editor", then one change.
func TestPeritextCursors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []pOp
		want int
	}{
		{"can resolve a cursor position", nil, 5},
		{"increments cursor position when insert happens before cursor", []pOp{{action: "insert", index: 0, text: "abc"}}, 8},
		{"does not move cursor position when insert happens after cursor", []pOp{{action: "insert", index: 7, text: "abc"}}, 5},
		{"moves cursor left if deletion happens before cursor", []pOp{{action: "delete", index: 0, count: 3}}, 2},
		{"doesn't move cursor if deletion happens after cursor", []pOp{{action: "delete", index: 7, count: 3}}, 5},
		{"returns index 0 if everything before the cursor is deleted", []pOp{{action: "delete", index: 0, count: 7}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTextSim(1, "The Peritext editor")
			text := func() *Text {
				b, err := s.docs[0].blockRef(s.blk)
				if err != nil {
					t.Fatal(err)
				}
				return b.text
			}
			cursor := text().visibleAt(5)
			s.edit(0, func(tx *Tx) { runPeritext(tx, s.blk, tc.ops) })
			tt := text()
			chunkVis := make([]int, len(tt.chunks))
			sum := 0
			for i, c := range tt.chunks {
				chunkVis[i] = sum
				sum += c.vis
			}
			if got, _ := tt.visBefore(cursor, chunkVis); got != tc.want {
				t.Fatalf("cursor at %d, want %d", got, tc.want)
			}
		})
	}
}
