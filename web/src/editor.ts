// The editor of a page: ProseMirror with mycel's schema, its keys (marks,
// Enter splitting the block, Tab and Shift-Tab nesting, Alt-arrows moving
// blocks, Mod-Enter checking a to-do), the Markdown shortcuts ("# ", "- ",
// "[] ", "**bold**"…), the pickers (picker.ts) and a handle on every block
// to drag it elsewhere.
import { baseKeymap, toggleMark } from "prosemirror-commands";
import { dropCursor } from "prosemirror-dropcursor";
import { history, redo, undo } from "prosemirror-history";
import { InputRule, inputRules } from "prosemirror-inputrules";
import { keymap } from "prosemirror-keymap";
import type { MarkType, Node } from "prosemirror-model";
import { EditorState, type Command, type Plugin } from "prosemirror-state";
import { EditorView, type NodeView } from "prosemirror-view";
import { blockAt, indent, moveBlock, outdent, setType, toggleTodo } from "./blocks.ts";
import { pickerPlugin, type PageRef } from "./picker.ts";
import { schema } from "./schema.ts";

// Enter splits the block (not only its line): a heading continues as a
// paragraph, a list item as an item of the same list; in code it is a
// new line of the code. Enter in an empty list item ends the list.
const splitBlock: Command = (state, dispatch) => {
  const { $from, $to } = state.selection;
  if ($from.parent.type.name !== "line" || !$from.sameParent($to)) return false;
  const block = $from.node($from.depth - 1);
  const t = block.attrs.type;
  if (t === "code" || t === "math" || t === "raw") {
    if (dispatch) dispatch(state.tr.insertText("\n").scrollIntoView());
    return true;
  }
  const list = ["bulleted", "numbered", "todo"].includes(t);
  if (list && $from.parent.content.size === 0) return setType("paragraph")(state, dispatch);
  const attrs = { id: "", type: list ? t : t === "cell" ? "cell" : "paragraph", attrs: list ? (t === "todo" ? { checked: "false" } : block.attrs.attrs) : null, kept: false };
  if (t === "cell" || t === "column" || t === "row") return false; // a cell holds one line
  if (dispatch) {
    const tr = state.tr.deleteSelection();
    tr.split(tr.mapping.map($from.pos), 2, [{ type: schema.nodes.block, attrs }, { type: schema.nodes.line }]);
    dispatch(tr.scrollIntoView());
  }
  return true;
};

// Backspace at the start of a typed block turns it back into text first.
const unformat: Command = (state, dispatch) => {
  const { $from, empty } = state.selection;
  if (!empty || $from.parentOffset !== 0 || $from.parent.type !== schema.nodes.line) return false;
  const b = blockAt($from);
  if (!b || ["paragraph", "cell", "column", "row", "table"].includes(b.node.attrs.type)) return false;
  return setType("paragraph")(state, dispatch);
};

function blockRule(re: RegExp, type: string | ((m: RegExpMatchArray) => string), attrs?: Record<string, string>): InputRule {
  return new InputRule(re, (state, match, start, end) => {
    const b = blockAt(state.doc.resolve(start));
    if (!b || b.node.attrs.type !== "paragraph") return null;
    const t = typeof type === "string" ? type : type(match);
    return state.tr.delete(start, end).setNodeMarkup(b.pos, undefined, { ...b.node.attrs, type: t, attrs: attrs || null });
  });
}

function markRule(re: RegExp, mark: MarkType): InputRule {
  return new InputRule(re, (state, match, start, end) => {
    const text = match[2];
    if (!text) return null;
    const from = start + match[1].length; // the character before the opening, kept
    const tr = state.tr.replaceWith(from, end, schema.text(text, [mark.create()]));
    return tr.removeStoredMark(mark);
  });
}

/** shortcuts are the Markdown shortcuts. */
export const shortcuts = inputRules({
  rules: [
    blockRule(/^(#{1,6})\s$/, (m) => "heading" + m[1].length),
    blockRule(/^[-*+]\s$/, "bulleted"),
    blockRule(/^1[.)]\s$/, "numbered"),
    blockRule(/^\[\s?\]\s$/, "todo", { checked: "false" }),
    blockRule(/^\[[xX]\]\s$/, "todo", { checked: "true" }),
    blockRule(/^>\s$/, "quote"),
    blockRule(/^```$/, "code"),
    blockRule(/^---$/, "divider"),
    markRule(/(^|[^*])\*\*([^*]+)\*\*$/, schema.marks.bold),
    markRule(/(^|[^*])\*([^*\s][^*]*)\*$/, schema.marks.italic),
    markRule(/(^|[^_])__([^_]+)__$/, schema.marks.bold),
    markRule(/(^|[^`])`([^`]+)`$/, schema.marks.code),
    markRule(/(^|[^~])~~([^~]+)~~$/, schema.marks.strike),
    markRule(/(^|[^=])==([^=]+)==$/, schema.marks.highlight),
  ],
});

// A block's handle: dragging it drags the block (the schema makes blocks
// draggable; ProseMirror selects the block under the handle and moves it).
// A to-do has its box, which a click checks.
class BlockView implements NodeView {
  dom: HTMLElement;
  contentDOM: HTMLElement;
  private box: HTMLElement;
  constructor(node: Node, view: EditorView, getPos: () => number | undefined) {
    this.dom = document.createElement("div");
    const handle = document.createElement("span");
    handle.className = "handle";
    handle.contentEditable = "false";
    handle.draggable = true;
    handle.title = "Drag to move";
    handle.textContent = "⋮⋮";
    this.box = document.createElement("span");
    this.box.className = "box";
    this.box.contentEditable = "false";
    this.box.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      const pos = getPos();
      if (pos === undefined || !view.editable) return;
      const n = view.state.doc.nodeAt(pos);
      if (!n) return;
      const a = { ...(n.attrs.attrs || {}) } as Record<string, string>;
      a.checked = a.checked === "true" ? "false" : "true";
      view.dispatch(view.state.tr.setNodeMarkup(pos, undefined, { ...n.attrs, attrs: a }));
    });
    this.contentDOM = document.createElement("div");
    this.contentDOM.className = "bc";
    this.dom.append(handle, this.box, this.contentDOM);
    this.render(node);
  }
  private render(node: Node) {
    const a = (node.attrs.attrs || {}) as Record<string, string>;
    this.dom.className = "b b-" + node.attrs.type;
    this.dom.dataset.type = node.attrs.type;
    this.box.hidden = node.attrs.type !== "todo";
    this.box.textContent = a.checked === "true" ? "☑" : "☐";
    if (a.checked === "true") this.dom.dataset.checked = "true";
    else delete this.dom.dataset.checked;
    if (node.attrs.kept) this.dom.dataset.kept = "true";
    else delete this.dom.dataset.kept;
  }
  update(node: Node) {
    if (node.type !== schema.nodes.block) return false;
    this.render(node);
    return true;
  }
  ignoreMutation(m: MutationRecord | { type: "selection"; target: globalThis.Node }) {
    return m.type !== "selection" && !this.contentDOM.contains(m.target);
  }
}

export interface EditorOptions {
  findPages: (q: string) => Promise<PageRef[]>;
  onChange: () => void; // a local edit (not one shown from the device)
  editable: () => boolean;
  openMention: (id: string) => void;
}

/** makeEditor shows doc in host. */
export function makeEditor(host: HTMLElement, doc: Node, o: EditorOptions): EditorView {
  const plugins: Plugin[] = [
    history(),
    shortcuts,
    pickerPlugin(o.findPages),
    keymap({
      "Mod-z": undo, "Mod-y": redo, "Shift-Mod-z": redo,
      "Mod-b": toggleMark(schema.marks.bold), "Mod-i": toggleMark(schema.marks.italic),
      "Mod-e": toggleMark(schema.marks.code), "Mod-Shift-s": toggleMark(schema.marks.strike),
      "Mod-Shift-h": toggleMark(schema.marks.highlight),
      Enter: splitBlock, "Mod-Enter": toggleTodo, Backspace: unformat,
      Tab: indent, "Shift-Tab": outdent, "Alt-ArrowUp": moveBlock(-1), "Alt-ArrowDown": moveBlock(1),
    }),
    keymap(baseKeymap),
    dropCursor(),
  ];
  const v: EditorView = new EditorView(host, {
    state: EditorState.create({ doc, plugins }),
    editable: o.editable,
    nodeViews: { block: (node, view, getPos) => new BlockView(node, view, getPos) },
    dispatchTransaction(tr) {
      v.updateState(v.state.apply(tr));
      if (tr.docChanged && !tr.getMeta("remote")) o.onChange();
    },
    handleClick(_view, _pos, ev) {
      // Mod-click on a mention opens its page.
      const t = ev.target as HTMLElement;
      if (t.classList.contains("mention") && (ev.metaKey || ev.ctrlKey)) {
        const id = t.getAttribute("data-target");
        if (id) { o.openMention(id.split("#")[0]); return true; }
      }
      return false;
    },
  });
  return v;
}
