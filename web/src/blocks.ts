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
];

/** blockAt is the innermost block around $pos and its position. */
export function blockAt($pos: ResolvedPos): { node: Node; pos: number; depth: number } | null {
  for (let d = $pos.depth; d > 0; d--) {
    const n = $pos.node(d);
    if (n.type === schema.nodes.block) return { node: n, pos: $pos.before(d), depth: d };
  }
  return null;
}

/** setType turns the block around the cursor into a block of type (a
 * table: inserts a new one after it). */
export function setType(type: string, attrs?: Record<string, string>): Command {
  return (state, dispatch) => {
    const b = blockAt(state.selection.$from);
    if (!b) return false;
    if (type === "table") {
      if (dispatch) {
        const at = b.pos + b.node.nodeSize;
        const tr = state.tr.insert(at, newTable(2, 2));
        dispatch(tr.setSelection(TextSelection.near(tr.doc.resolve(at + 1))).scrollIntoView());
      }
      return true;
    }
    if (dispatch) dispatch(state.tr.setNodeMarkup(b.pos, undefined, { ...b.node.attrs, type, attrs: attrs || null }).scrollIntoView());
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

/** moveBlock moves the block around the cursor before the block before it
 * (dir -1) or after the block after it (dir 1), among its siblings. */
export function moveBlock(dir: -1 | 1): Command {
  return (state, dispatch) => {
    const b = blockAt(state.selection.$from);
    if (!b) return false;
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
      dispatch(tr.setSelection(TextSelection.create(tr.doc, at + offset)).scrollIntoView());
    }
    return true;
  };
}

/** indent nests the block around the cursor as the last child of the
 * block before it (Tab). */
export const indent: Command = (state, dispatch) => {
  const b = blockAt(state.selection.$from);
  if (!b) return false;
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
    dispatch(tr.setSelection(TextSelection.create(tr.doc, at + offset)).scrollIntoView());
  }
  return true;
};

/** outdent moves the block around the cursor out of its parent block, to
 * right after it (Shift-Tab); the blocks after it stay in the parent. */
export const outdent: Command = (state, dispatch) => {
  const b = blockAt(state.selection.$from);
  if (!b || b.depth < 2) return false;
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
    dispatch(tr.setSelection(TextSelection.create(tr.doc, at + offset)).scrollIntoView());
  }
  return true;
};

/** toggleTodo checks or unchecks the to-do around the cursor (Mod-Enter). */
export const toggleTodo: Command = (state, dispatch) => {
  const b = blockAt(state.selection.$from);
  if (!b || b.node.attrs.type !== "todo") return false;
  const a = { ...(b.node.attrs.attrs || {}) } as Record<string, string>;
  a.checked = a.checked === "true" ? "false" : "true";
  if (dispatch) dispatch(state.tr.setNodeMarkup(b.pos, undefined, { ...b.node.attrs, attrs: a }));
  return true;
};

/** lineStartText is the text of the cursor's line before the cursor. */
export function lineStartText(state: EditorState): string {
  const $f = state.selection.$from;
  return $f.parent.textBetween(0, $f.parentOffset, "\n", "\ufffc");
}

