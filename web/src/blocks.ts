// Commands on whole blocks: changing a block's type (the / menu and the
// Markdown shortcuts), moving a block up or down, nesting it under the
// block before it and out again, and a new table. Every one keeps the
// moved block's node (its id and attributes), so the device sees a move of
// that block, not a deletion and a new one. Pure: tested under Node.
import type { Node, ResolvedPos } from "prosemirror-model";
import { TextSelection, type Command, type EditorState } from "prosemirror-state";
import { schema } from "./schema.ts";

/** Every block type a person picks from the / menu, with its label. */
export const blockTypes: { type: string; label: string; attrs?: Record<string, string> }[] = [
  { type: "paragraph", label: "Text" },
  { type: "heading1", label: "Heading 1" },
  { type: "heading2", label: "Heading 2" },
  { type: "heading3", label: "Heading 3" },
  { type: "bulleted", label: "Bulleted list" },
  { type: "numbered", label: "Numbered list" },
  { type: "todo", label: "To-do", attrs: { checked: "false" } },
  { type: "quote", label: "Quote" },
  { type: "callout", label: "Callout" },
  { type: "toggle", label: "Toggle" },
  { type: "code", label: "Code" },
  { type: "math", label: "Math" },
  { type: "divider", label: "Divider" },
  { type: "table", label: "Table" },
  { type: "file", label: "File or image" },
];

// Blocks whose attributes are their content (a file's manifest, an
// embed's target): retyping one (the / menu, Backspace at its start) would
// drop them, so the block commands refuse: a file block that became a
// paragraph had lost its file.
const contentTypes = new Set(["file", "embed", "bookmark", "link"]);

/** keepsContent: the block's type is not changed by the editor's block
 * commands (its attributes hold what it shows). */
export function keepsContent(type: string): boolean {
  return contentTypes.has(type);
}

/** blockAt is the innermost block around $pos and its position. */
export function blockAt($pos: ResolvedPos): { node: Node; pos: number; depth: number } | null {
  for (let d = $pos.depth; d > 0; d--) {
    const n = $pos.node(d);
    if (n.type === schema.nodes.block) return { node: n, pos: $pos.before(d), depth: d };
  }
  return null;
}

/** setType turns the block around the cursor into a block of type (a
 * table: a new one, in place of the block when that is an empty
 * paragraph, else after it; the cursor in its first cell). */
export function setType(type: string, attrs?: Record<string, string>): Command {
  return (state, dispatch) => {
    const b = blockAt(state.selection.$from);
    if (!b || keepsContent(b.node.attrs.type)) return false;
    if (type === "table") {
      if (dispatch) {
        const empty = b.node.attrs.type === "paragraph" && b.node.childCount === 1 && b.node.firstChild!.content.size === 0;
        const at = empty ? b.pos : b.pos + b.node.nodeSize;
        const table = newTable(2, 2);
        const tr = empty ? state.tr.replaceWith(b.pos, b.pos + b.node.nodeSize, table) : state.tr.insert(at, table);
        // Not the table's own line (hidden: what was typed there did not
        // show) but its first row's first cell.
        let cell = -1;
        table.descendants((n, pos) => {
          if (cell < 0 && n.attrs.type === "cell") cell = pos;
          return cell < 0;
        });
        dispatch(tr.setSelection(TextSelection.create(tr.doc, at + 1 + cell + 2)).scrollIntoView());
      }
      return true;
    }
    // Attribute steps: undoing this puts back the type alone, never an id
    // (or attributes) the device has given the block since.
    if (dispatch) dispatch(state.tr.setNodeAttribute(b.pos, "type", type).setNodeAttribute(b.pos, "attrs", attrs || null).scrollIntoView());
    return true;
  };
}

/** newTable is a table of cols columns and rows rows, its cells naming
 * their columns by place ("#k") until the device gives the columns ids. */
export function newTable(cols: number, rows: number): Node {
  const line = () => schema.node("line");
  const kids: Node[] = [];
  for (let c = 0; c < cols; c++) kids.push(schema.node("block", { type: "column" }, [line()]));
  for (let r = 0; r < rows; r++) {
    const cells: Node[] = [];
    for (let c = 0; c < cols; c++) cells.push(schema.node("block", { type: "cell", attrs: { col: "#" + c } }, [line()]));
    kids.push(schema.node("block", { type: "row" }, [line(), ...cells]));
  }
  return schema.node("block", { type: "table" }, [line(), ...kids]);
}

// A table's columns, rows and cells have their places in it: Tab,
// Shift-Tab and Alt-arrows leave them there (Tab in a cell had nested it in
// the cell before it).
const inTable = (b: { node: Node } | null) => !!b && ["cell", "row", "column"].includes(b.node.attrs.type);

// Moves (moveBlock, indent, outdent, a drag) are left out of the undo
// history: ProseMirror undoes a move by putting back a copy of the block
// as it was when moved, without what other devices typed into it since,
// and the next edit would delete their text. Alt-arrows and Shift-Tab
// move it back.

/** moveBlock moves the block around the cursor before the block before it
 * (dir -1) or after the block after it (dir 1), among its siblings. */
export function moveBlock(dir: -1 | 1): Command {
  return (state, dispatch) => {
    const b = blockAt(state.selection.$from);
    if (!b || inTable(b)) return false;
    const $b = state.doc.resolve(b.pos);
    const parent = $b.parent, index = $b.index();
    const other = index + dir;
    // In a block, child 0 is its line: blocks start at 1.
    const first = parent.type === schema.nodes.doc ? 0 : 1;
    if (other < first || other >= parent.childCount) return false;
    if (dispatch) {
      const sib = parent.child(other);
      const offset = state.selection.from - b.pos;
      const tr = state.tr.delete(b.pos, b.pos + b.node.nodeSize);
      const at = dir < 0 ? b.pos - sib.nodeSize : b.pos + sib.nodeSize;
      tr.insert(at, b.node);
      dispatch(tr.setSelection(TextSelection.create(tr.doc, at + offset)).setMeta("addToHistory", false).scrollIntoView());
    }
    return true;
  };
}

/** nextCell moves the cursor to the end of the next (dir 1) or previous
 * (-1) cell of its table: Tab and Shift-Tab in a cell. At the table's
 * first or last cell it stays (the key still taken: the browser's Tab
 * moved the focus out of the editor). */
export function nextCell(dir: -1 | 1): Command {
  return (state, dispatch) => {
    const $f = state.selection.$from;
    const b = blockAt($f);
    if (!b || b.node.attrs.type !== "cell" || b.depth < 3) return false;
    const start = $f.start(b.depth - 2); // the table's content (a cell is in a row in a table)
    const cells: { pos: number; end: number }[] = [];
    $f.node(b.depth - 2).descendants((n, pos) => {
      if (n.attrs.type !== "cell") return true;
      cells.push({ pos: start + pos, end: start + pos + 2 + n.firstChild!.content.size });
      return false;
    });
    const to = cells[cells.findIndex((c) => c.pos === b.pos) + dir];
    if (to && dispatch) dispatch(state.tr.setSelection(TextSelection.create(state.doc, to.end)).scrollIntoView());
    return true;
  };
}

/** indent nests the block around the cursor as the last child of the
 * block before it (Tab). */
export const indent: Command = (state, dispatch) => {
  const b = blockAt(state.selection.$from);
  if (!b || inTable(b)) return false;
  const $b = state.doc.resolve(b.pos);
  const index = $b.index();
  const first = $b.parent.type === schema.nodes.doc ? 0 : 1;
  if (index <= first) return false;
  const prev = $b.parent.child(index - 1);
  if (prev.type !== schema.nodes.block) return false;
  if (dispatch) {
    const offset = state.selection.from - b.pos;
    const prevEnd = b.pos; // the previous sibling ends where this block starts
    const tr = state.tr.delete(b.pos, b.pos + b.node.nodeSize);
    const at = prevEnd - 1; // inside the previous block, after its last child
    tr.insert(at, b.node);
    dispatch(tr.setSelection(TextSelection.create(tr.doc, at + offset)).setMeta("addToHistory", false).scrollIntoView());
  }
  return true;
};

/** outdent moves the block around the cursor out of its parent block, to
 * right after it (Shift-Tab); the blocks after it stay in the parent. */
export const outdent: Command = (state, dispatch) => {
  const b = blockAt(state.selection.$from);
  if (!b || b.depth < 2 || inTable(b)) return false;
  const $b = state.doc.resolve(b.pos);
  const parentPos = $b.before($b.depth);
  const parentNode = $b.parent;
  if (parentNode.type !== schema.nodes.block) return false;
  if (dispatch) {
    const offset = state.selection.from - b.pos;
    const parentEnd = parentPos + parentNode.nodeSize;
    const tr = state.tr.insert(parentEnd, b.node);
    tr.delete(b.pos, b.pos + b.node.nodeSize);
    const at = parentEnd - b.node.nodeSize; // the deletion came before it
    dispatch(tr.setSelection(TextSelection.create(tr.doc, at + offset)).setMeta("addToHistory", false).scrollIntoView());
  }
  return true;
};

/** toggleTodo checks or unchecks the to-do around the cursor (Mod-Enter). */
export const toggleTodo: Command = (state, dispatch) => {
  const b = blockAt(state.selection.$from);
  if (!b || b.node.attrs.type !== "todo") return false;
  const a = { ...(b.node.attrs.attrs || {}) } as Record<string, string>;
  a.checked = a.checked === "true" ? "false" : "true";
  if (dispatch) dispatch(state.tr.setNodeAttribute(b.pos, "attrs", a));
  return true;
};

/** caretBlock is the top-level block that holds the selection's start
 * (the one after it, when the selection is between top-level blocks), as
 * its range; null past the last block. */
export function caretBlock(state: EditorState): { from: number; to: number } | null {
  const $f = state.selection.$from;
  if ($f.depth > 0) return { from: $f.before(1), to: $f.after(1) };
  const n = $f.nodeAfter;
  return n ? { from: $f.pos, to: $f.pos + n.nodeSize } : null;
}

/** lineStartText is the text of the cursor's line before the cursor. */
export function lineStartText(state: EditorState): string {
  const $f = state.selection.$from;
  return $f.parent.textBetween(0, $f.parentOffset, "\n", "\ufffc");
}


// Blocks whose text is not a line one can join onto (a divider's, a
// table's own) or that hold their place in a table.
const noJoin = new Set(["divider", "table", "cell", "row", "column", ...contentTypes]);

/** joinUp is Backspace at the start of a block's text: the text joins the
 * end of the text before it (the line just above, whichever block holds
 * it: the one before, its last descendant, or the parent), the block's
 * children staying at their depth on the page. ProseMirror's
 * own join nested the block under the one before instead, text and all,
 * and an empty line could not be removed. Off where the line above is a
 * divider, a file or a table's, or the block is in a table. */
export const joinUp: Command = (state, dispatch) => {
  const { $from, empty } = state.selection;
  if (!empty || $from.parentOffset !== 0 || $from.parent.type !== schema.nodes.line) return false;
  const b = blockAt($from);
  if (!b || noJoin.has(b.node.attrs.type) || inTableAt($from)) return false;
  const lineStart = $from.before();
  // The end of the line just above, in reading order.
  let prevEnd = -1;
  state.doc.nodesBetween(0, lineStart, (n, pos) => {
    if (n.type === schema.nodes.line && pos + n.nodeSize <= lineStart) prevEnd = pos + 1 + n.content.size;
    return true;
  });
  if (prevEnd < 0) return false;
  const above = blockAt(state.doc.resolve(prevEnd));
  if (!above || noJoin.has(above.node.attrs.type) || inTableAt(state.doc.resolve(prevEnd))) return false;
  if (dispatch) {
    const tr = state.tr.delete(prevEnd, $from.pos);
    dispatch(tr.setSelection(TextSelection.create(tr.doc, tr.mapping.map(prevEnd, -1))).scrollIntoView());
  }
  return true;
};

function inTableAt($pos: ResolvedPos): boolean {
  for (let d = $pos.depth; d > 0; d--) if (["cell", "row", "column", "table"].includes($pos.node(d).attrs.type)) return true;
  return false;
}
