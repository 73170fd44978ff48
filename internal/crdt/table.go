package crdt

import "errors"

// A table is a block whose children are its column blocks, then its row
// blocks; a row's children are cells, and each cell names its column by
// the column block's ID (AttrColumn). Columns and rows are ordered like
// any blocks, so two devices that each add a row or a column, or edit
// different cells, all keep their work: a row added on one device lacks a
// cell in the column added on the other, and shows an empty one there. A
// cell's position in its row decides nothing (two devices that each add a
// column add a cell to every row, and the order of those cells within a
// row may differ from row to row; the columns' order does not).

// AttrColumn is the attribute of a cell naming its column: the column
// block's ID (ID.String), or "#k", the table's k-th column, in a tree
// given to Replace (as parsed Markdown is).
const AttrColumn = "col"

// Grid is a table laid out: its columns in order and, per row, the cell of
// each column (nil where the row has none).
type Grid struct {
	Columns []*Block
	Rows    []*Block
	Cells   [][]*Block
	// Loose are, per row, its cells whose column is gone (deleted while
	// the cell was edited elsewhere): they are shown after the columns so
	// that no text is hidden.
	Loose [][]*Block
}

// TableGrid lays table out. A column named by two cells of one row (two
// devices filled it at once) shows the first; the other is loose.
func TableGrid(table *Block) Grid {
	var g Grid
	col := map[string]int{}
	for _, c := range table.Children {
		if c.Type == TypeColumn {
			col[c.ID.String()] = len(g.Columns)
			g.Columns = append(g.Columns, c)
		}
	}
	for _, r := range table.Children {
		if r.Type != TypeRow {
			continue
		}
		cells := make([]*Block, len(g.Columns))
		var loose []*Block
		for _, c := range r.Children {
			k, ok := col[c.Attrs[AttrColumn]]
			if !ok {
				// A cell of a tree not yet stored names its column by place.
				if n, err := parseColumnPlace(c.Attrs[AttrColumn]); err == nil && n < len(g.Columns) {
					k, ok = n, true
				}
			}
			if ok && cells[k] == nil {
				cells[k] = c
			} else {
				loose = append(loose, c)
			}
		}
		g.Rows = append(g.Rows, r)
		g.Cells = append(g.Cells, cells)
		g.Loose = append(g.Loose, loose)
	}
	return g
}

func parseColumnPlace(s string) (int, error) {
	if len(s) < 2 || s[0] != '#' {
		return 0, errNotPlace
	}
	n := 0
	for _, ch := range s[1:] {
		if ch < '0' || ch > '9' || n > 1<<20 {
			return 0, errNotPlace
		}
		n = n*10 + int(ch-'0')
	}
	return n, nil
}

var errNotPlace = errors.New("not a column place")

// InsertTable adds a table of cols columns and rows rows (the first is the
// header row) under parent after sibling after, and returns it.
func (tx *Tx) InsertTable(parent, after ID, cols, rows int) ID {
	t := tx.InsertBlock(parent, after, TypeTable)
	var prev ID
	colIDs := make([]ID, cols)
	for i := range colIDs {
		colIDs[i] = tx.InsertBlock(t, prev, TypeColumn)
		prev = colIDs[i]
	}
	for range rows {
		prev = tx.addRow(t, prev, colIDs)
	}
	return t
}

// AddTableRow adds a row with an empty cell in every column after row
// after (zero: after the columns, as the first row).
func (tx *Tx) AddTableRow(table, after ID) ID {
	cols, lastCol := tx.columns(table)
	if after.IsZero() {
		after = lastCol
	}
	return tx.addRow(table, after, cols)
}

func (tx *Tx) addRow(table, after ID, cols []ID) ID {
	r := tx.InsertBlock(table, after, TypeRow)
	var prev ID
	for _, c := range cols {
		prev = tx.InsertBlock(r, prev, TypeCell)
		tx.SetAttr(prev, AttrColumn, c.String())
	}
	return r
}

// AddTableColumn adds a column after column after (zero: first) and an
// empty cell for it in every row.
func (tx *Tx) AddTableColumn(table, after ID) ID {
	c := tx.InsertBlock(table, after, TypeColumn)
	for _, r := range tx.d.childIDs(table) {
		if tx.d.blockType(r) != TypeRow {
			continue
		}
		kids := tx.d.childIDs(r)
		var last ID
		if len(kids) > 0 {
			last = kids[len(kids)-1]
		}
		cell := tx.InsertBlock(r, last, TypeCell)
		tx.SetAttr(cell, AttrColumn, c.String())
	}
	return c
}

// DeleteTableColumn deletes a column and its cells.
func (tx *Tx) DeleteTableColumn(table, column ID) {
	name := column.String()
	for _, r := range tx.d.childIDs(table) {
		for _, c := range tx.d.childIDs(r) {
			if tx.d.blockAttr(c, AttrColumn) == name {
				tx.DeleteBlock(c)
			}
		}
	}
	tx.DeleteBlock(column)
}

// columns lists the table's columns and the last of them.
func (tx *Tx) columns(table ID) ([]ID, ID) {
	var cols []ID
	for _, c := range tx.d.childIDs(table) {
		if tx.d.blockType(c) == TypeColumn {
			cols = append(cols, c)
		}
	}
	var last ID
	if len(cols) > 0 {
		last = cols[len(cols)-1]
	}
	return cols, last
}

func (d *Doc) blockType(id ID) string { return d.blockAttr(id, "type") }

func (d *Doc) blockAttr(id ID, key string) string {
	b, err := d.blockRef(id)
	if err != nil {
		return ""
	}
	if r, ok := b.attrs[key]; ok && !r.unset {
		return r.val
	}
	return ""
}
