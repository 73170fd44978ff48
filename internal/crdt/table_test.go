package crdt

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// gridText shows a table as rows of cells ("|a|b|"), loose cells after "!".
func gridText(d *Doc) string {
	var b strings.Builder
	for _, blk := range d.Blocks() {
		if blk.Type != TypeTable {
			continue
		}
		g := TableGrid(blk)
		for i := range g.Rows {
			b.WriteString("|")
			for _, c := range g.Cells[i] {
				if c != nil {
					b.WriteString(c.Text)
				}
				b.WriteString("|")
			}
			for _, c := range g.Loose[i] {
				b.WriteString("!" + c.Text)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// cell returns the cell of row r, column c (by the grid) on dev.
func cellAt(d *Doc, r, c int) ID {
	for _, blk := range d.Blocks() {
		if blk.Type == TypeTable {
			return TableGrid(blk).Cells[r][c].ID
		}
	}
	panic("no table")
}

func tableIDs(d *Doc) (table ID, cols, rows []ID) {
	for _, blk := range d.Blocks() {
		if blk.Type == TypeTable {
			g := TableGrid(blk)
			for _, c := range g.Columns {
				cols = append(cols, c.ID)
			}
			for _, r := range g.Rows {
				rows = append(rows, r.ID)
			}
			return blk.ID, cols, rows
		}
	}
	panic("no table")
}

// Two devices edit one table offline: one adds a column and fills a cell
// of it, the other adds a row and fills it, both edit different cells of
// the same row. Everything survives, on both, alike.
func TestConcurrentTableEditsAllSurvive(t *testing.T) {
	s := newTextSim(2, "")
	s.edit(0, func(tx *Tx) {
		tb := tx.InsertTable(ID{}, s.blk, 2, 2)
		_ = tb
	})
	if err := s.sync(1, first); err != nil {
		t.Fatal(err)
	}
	s.edit(0, func(tx *Tx) {
		tb, cols, _ := tableIDs(s.docs[0])
		tx.InsertText(cellAt(s.docs[0], 0, 0), 0, "Name")
		c := tx.AddTableColumn(tb, cols[1])
		_ = c
	})
	s.edit(0, func(tx *Tx) { tx.InsertText(cellAt(s.docs[0], 0, 2), 0, "Email") })
	s.edit(1, func(tx *Tx) {
		tb, _, rows := tableIDs(s.docs[1])
		tx.InsertText(cellAt(s.docs[1], 0, 1), 0, "Age")
		tx.AddTableRow(tb, rows[1])
	})
	s.edit(1, func(tx *Tx) {
		tx.InsertText(cellAt(s.docs[1], 2, 0), 0, "Ada")
		tx.InsertText(cellAt(s.docs[1], 2, 1), 0, "36")
	})
	for dev := range 2 {
		if err := s.sync(dev, first); err != nil {
			t.Fatal(err)
		}
	}
	want := "|Name|Age|Email|\n||||\n|Ada|36||\n"
	for dev := range 2 {
		if got := gridText(s.docs[dev]); got != want {
			t.Fatalf("device %d shows\n%s\nwant\n%s", dev, got, want)
		}
	}
	if string(s.docs[0].MarshalState()) != string(s.docs[1].MarshalState()) {
		t.Fatal("states differ")
	}
}

// Both devices add a column at the same place and a row each: every row
// gets a cell in both columns, in the same order.
func TestConcurrentColumnsLineUp(t *testing.T) {
	s := newTextSim(2, "")
	s.edit(0, func(tx *Tx) { tx.InsertTable(ID{}, s.blk, 1, 2) })
	if err := s.sync(1, first); err != nil {
		t.Fatal(err)
	}
	for dev, name := range []string{"A", "B"} {
		s.edit(dev, func(tx *Tx) {
			tb, cols, _ := tableIDs(s.docs[dev])
			tx.AddTableColumn(tb, cols[0])
		})
		s.edit(dev, func(tx *Tx) {
			tx.InsertText(cellAt(s.docs[dev], 0, 1), 0, name)
			tx.InsertText(cellAt(s.docs[dev], 1, 1), 0, strings.ToLower(name))
		})
	}
	for dev := range 2 {
		if err := s.sync(dev, first); err != nil {
			t.Fatal(err)
		}
	}
	got := gridText(s.docs[0])
	if got != gridText(s.docs[1]) || (got != "||B|A|\n||b|a|\n" && got != "||A|B|\n||a|b|\n") {
		t.Fatalf("devices show\n%s\nand\n%s", got, gridText(s.docs[1]))
	}
}

// A column deleted on one device while the other typed into one of its
// cells: the typed text stays visible (as a loose cell of its row).
func TestDeletedColumnKeepsConcurrentText(t *testing.T) {
	s := newTextSim(2, "")
	s.edit(0, func(tx *Tx) { tx.InsertTable(ID{}, s.blk, 2, 1) })
	if err := s.sync(1, first); err != nil {
		t.Fatal(err)
	}
	s.edit(0, func(tx *Tx) {
		tb, cols, _ := tableIDs(s.docs[0])
		tx.DeleteTableColumn(tb, cols[1])
	})
	s.edit(1, func(tx *Tx) { tx.InsertText(cellAt(s.docs[1], 0, 1), 0, "keep me") })
	for dev := range 2 {
		if err := s.sync(dev, first); err != nil {
			t.Fatal(err)
		}
	}
	if got := gridText(s.docs[0]); got != "||!keep me\n" || got != gridText(s.docs[1]) {
		t.Fatalf("shows %q and %q", got, gridText(s.docs[1]))
	}
}

// Random table edits on several devices (rows and columns added and
// deleted, cells typed into and formatted), in any delivery order:
// every device ends byte for byte alike, and every cell of a visible row
// shows, in its column or loose. (That a delete never hides text typed
// concurrently is TestConvergence's, for every block.)
func TestTablesConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 3).Draw(t, "devices")
		s := newTextSim(n, "")
		s.edit(0, func(tx *Tx) { tx.InsertTable(ID{}, s.blk, 2, 2) })
		pick := func(k int) int { return rapid.IntRange(0, k-1).Draw(t, "pick") }
		word := 0
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			dev := rapid.IntRange(0, n-1).Draw(t, "device")
			d := s.docs[dev]
			if !strings.Contains(dump(d), TypeTable) {
				if err := s.sync(dev, pick); err != nil {
					t.Fatal(err)
				}
				continue
			}
			tb, cols, rows := tableIDs(d)
			switch rapid.IntRange(0, 6).Draw(t, "what") {
			case 0:
				after := ID{}
				if len(cols) > 0 {
					after = cols[pick(len(cols))]
				}
				s.edit(dev, func(tx *Tx) { tx.AddTableColumn(tb, after) })
			case 1:
				after := ID{}
				if len(rows) > 0 {
					after = rows[pick(len(rows))]
				}
				s.edit(dev, func(tx *Tx) { tx.AddTableRow(tb, after) })
			case 2:
				if len(cols) > 1 {
					s.edit(dev, func(tx *Tx) { tx.DeleteTableColumn(tb, cols[pick(len(cols))]) })
				}
			case 3:
				if len(rows) > 1 {
					s.edit(dev, func(tx *Tx) { tx.DeleteBlock(rows[pick(len(rows))]) })
				}
			case 4, 5:
				if len(rows) > 0 && len(cols) > 0 {
					r, c := pick(len(rows)), pick(len(cols))
					for _, blk := range d.Blocks() {
						if blk.Type == TypeTable {
							if cell := TableGrid(blk).Cells[r][c]; cell != nil {
								w := fmt.Sprintf("w%d.", word)
								word++
								s.edit(dev, func(tx *Tx) {
									tx.InsertText(cell.ID, rapid.IntRange(0, len([]rune(cell.Text))).Draw(t, "pos"), w)
									if rapid.Bool().Draw(t, "bold") {
										tx.Mark(cell.ID, 0, len([]rune(cell.Text))+len(w), MarkBold, "")
									}
								})
							}
						}
					}
				}
			default:
				if err := s.sync(dev, pick); err != nil {
					t.Fatal(err)
				}
			}
		}
		for dev := range n {
			if err := s.sync(dev, pick); err != nil {
				t.Fatal(err)
			}
		}
		state := s.docs[0].MarshalState()
		for dev := 1; dev < n; dev++ {
			if string(s.docs[dev].MarshalState()) != string(state) {
				t.Fatalf("device %d differs:\n%s\nvs\n%s", dev, gridText(s.docs[dev]), gridText(s.docs[0]))
			}
		}
		// Every cell of a visible row shows, in its column or loose.
		for _, blk := range s.docs[0].Blocks() {
			if blk.Type != TypeTable {
				continue
			}
			g := TableGrid(blk)
			for i, r := range g.Rows {
				shown := len(g.Loose[i])
				for _, c := range g.Cells[i] {
					if c != nil {
						shown++
					}
				}
				if shown != len(r.Children) {
					t.Fatalf("row %d has %d cells, shows %d", i, len(r.Children), shown)
				}
			}
		}
	})
}

// A table as parsed Markdown gives it (cells name columns by place) is
// stored with cells naming their column blocks; writing the same table
// again changes nothing, and an edited cell is one text edit.
func TestReplaceResolvesColumnPlaces(t *testing.T) {
	table := func(a, b string) []*Block {
		cell := func(k int, text string) *Block {
			return &Block{Type: TypeCell, Attrs: map[string]string{AttrColumn: fmt.Sprintf("#%d", k)}, Text: text}
		}
		return []*Block{{Type: TypeTable, Attrs: map[string]string{}, Children: []*Block{
			{Type: TypeColumn, Attrs: map[string]string{"align": "left"}},
			{Type: TypeColumn, Attrs: map[string]string{}},
			{Type: TypeRow, Attrs: map[string]string{}, Children: []*Block{cell(0, "Name"), cell(1, "Age")}},
			{Type: TypeRow, Attrs: map[string]string{}, Children: []*Block{cell(0, a), cell(1, b)}},
		}}}
	}
	d := NewDoc()
	tx := d.Begin("a")
	tx.Replace(table("Ada", "36"))
	tx.Commit()
	if got := gridText(d); got != "|Name|Age|\n|Ada|36|\n" {
		t.Fatalf("grid %q", got)
	}
	for _, c := range d.Blocks()[0].Children[2].Children {
		if _, err := ParseID(c.Attrs[AttrColumn]); err != nil {
			t.Fatalf("a stored cell names its column %q", c.Attrs[AttrColumn])
		}
	}
	tx = d.Begin("a")
	tx.Replace(table("Ada", "36"))
	if ch := tx.Commit(); ch != nil {
		t.Fatalf("writing the same table made %d ops: %+v", len(ch.Ops), ch.Ops)
	}
	tx = d.Begin("a")
	tx.Replace(table("Ada", "37"))
	ch := tx.Commit()
	if ch == nil || len(ch.Ops) != 2 || gridText(d) != "|Name|Age|\n|Ada|37|\n" {
		t.Fatalf("editing one cell: %v, grid %q", ch, gridText(d))
	}
}
