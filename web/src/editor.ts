// The editor of a page: ProseMirror with mycel's schema, its keys (marks,
// Enter splitting the block, Tab and Shift-Tab nesting (in a table: to the
// next and previous cell), Alt-arrows moving
// blocks, Mod-Enter checking a to-do), the Markdown shortcuts ("# ", "- ",
// "[] ", "**bold**"…), the pickers (picker.ts) and a handle to drag the
// block under the pointer elsewhere.
import { baseKeymap, chainCommands, toggleMark } from "prosemirror-commands";
import { dropCursor } from "prosemirror-dropcursor";
import { history, redo, undo } from "prosemirror-history";
import { InputRule, inputRules } from "prosemirror-inputrules";
import { keymap } from "prosemirror-keymap";
import type { MarkType, Node } from "prosemirror-model";
import { EditorState, NodeSelection, Plugin, TextSelection, type Command } from "prosemirror-state";
import { Decoration, DecorationSet, EditorView, type NodeViewConstructor } from "prosemirror-view";
import { blockAt, caretBlock, indent, joinUp, moveBlock, nextCell, outdent, setType, toggleTodo } from "./blocks.ts";
import { fileEnter, guardFileBlock } from "./files.ts";
import { filesOf, FileView, openFile, uploadFiles, uploadsPlugin, type Uploads } from "./fileview.ts";
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
    return state.tr.delete(start, end).setNodeAttribute(b.pos, "type", t).setNodeAttribute(b.pos, "attrs", attrs || null);
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

// Top-level blocks off screen are not laid out (CSS content-visibility:
// auto), and Chromium decides which are on screen only at its next frame:
// until then it skips a block just made (an Enter's split, a new type, a
// move), and keys typed into it meanwhile went astray ("## H2" typed fast
// after an Enter read "2H", with an empty block nested in it). The block
// that holds the caret is marked "caret" and always laid out.
const caretPlugin = new Plugin({
  props: {
    decorations(state) {
      const r = caretBlock(state);
      return r ? DecorationSet.create(state.doc, [Decoration.node(r.from, r.to, { class: "caret" })]) : null;
    },
  },
});

// The drag handle: one element beside the editor, put next to the block
// under the pointer; dragging it drags that block (ProseMirror's drop
// moves the slice in view.dragging). One handle, not one per block, so a
// page of 10,000 blocks has no 10,000 more elements to build and lay out.
function dragHandle(view: EditorView, host: HTMLElement) {
  const handle = document.createElement("div");
  handle.id = "handle";
  handle.draggable = true;
  handle.title = "Drag to move this block (or Alt+Up / Alt+Down)";
  handle.textContent = "⋮⋮";
  handle.hidden = true;
  host.append(handle);
  let over: HTMLElement | null = null;
  view.dom.addEventListener("mousemove", (ev) => {
    const b = (ev.target as Element).closest?.(".b") as HTMLElement | null;
    if (!b || b === over || !view.editable) return;
    over = b;
    const r = b.getBoundingClientRect(), h = host.getBoundingClientRect();
    handle.hidden = false;
    handle.style.top = r.top - h.top + host.scrollTop + "px";
    // Left of the block, not over it: over it, it took the clicks meant
    // for a to-do's box.
    handle.style.left = r.left - h.left - handle.offsetWidth - 2 + "px";
  });
  handle.addEventListener("dragstart", (ev) => {
    if (!over || !ev.dataTransfer) return;
    const pos = view.posAtDOM(over, 0) - 1;
    const node = pos >= 0 ? view.state.doc.nodeAt(pos) : null;
    if (!node || node.type !== schema.nodes.block) return;
    const sel = NodeSelection.create(view.state.doc, pos);
    view.dispatch(view.state.tr.setSelection(sel));
    const slice = sel.content();
    view.dragging = { slice, move: true };
    ev.dataTransfer.effectAllowed = "copyMove";
    ev.dataTransfer.setData("text/plain", node.textBetween(0, node.content.size, "\n"));
    ev.dataTransfer.setDragImage(over, 0, 0);
  });
  handle.addEventListener("dragend", () => { view.dragging = null; });
}

/** editorKeys are the editor's own keys (before ProseMirror's base
 * keymap); object names the open page. */
export function editorKeys(object: () => string): Record<string, Command> {
  return {
    "Mod-z": undo, "Mod-y": redo, "Shift-Mod-z": redo,
    "Mod-b": toggleMark(schema.marks.bold), "Mod-i": toggleMark(schema.marks.italic),
    "Mod-e": toggleMark(schema.marks.code), "Mod-Shift-s": toggleMark(schema.marks.strike),
    "Mod-Shift-h": toggleMark(schema.marks.highlight),
    Enter: chainCommands(fileEnter, splitBlock), "Mod-Enter": chainCommands(toggleTodo, openFile(object)),
    // Before the base keymap's joins, which took a file block's caption
    // into the block before and the file block with it.
    Backspace: chainCommands(guardFileBlock(-1), unformat, joinUp), "Mod-Backspace": guardFileBlock(-1), "Shift-Backspace": guardFileBlock(-1),
    Delete: guardFileBlock(1), "Mod-Delete": guardFileBlock(1),
    Tab: chainCommands(nextCell(1), indent), "Shift-Tab": chainCommands(nextCell(-1), outdent), "Alt-ArrowUp": moveBlock(-1), "Alt-ArrowDown": moveBlock(1),
  };
}

// pickFiles asks for files to add after the cursor's block (the / menu's
// "File or image": the keyboard's way to add one).
function pickFiles(view: EditorView, u: Uploads) {
  const input = document.createElement("input");
  input.type = "file";
  input.multiple = true;
  input.addEventListener("change", () => {
    view.focus(); // back from the chooser, typing goes on where it was
    if (input.files && input.files.length) void uploadFiles(view, Array.from(input.files), view.state.selection.from, u);
  });
  input.click();
}

export interface EditorOptions {
  findPages: (q: string) => Promise<PageRef[]>;
  onChange: () => void; // a local edit (not one shown from the device)
  editable: () => boolean;
  openMention: (id: string) => void;
  files: Uploads; // where dropped and pasted files go
}

/** makeEditor shows doc in host. */
export function makeEditor(host: HTMLElement, doc: Node, o: EditorOptions): EditorView {
  const plugins: Plugin[] = [
    history(),
    shortcuts,
    pickerPlugin(o.findPages, (view) => pickFiles(view, o.files)),
    uploadsPlugin,
    keymap(editorKeys(o.files.object)),
    keymap(baseKeymap),
    dropCursor(),
    caretPlugin,
  ];
  const v: EditorView = new EditorView(host, {
    state: EditorState.create({ doc, plugins }),
    editable: o.editable,
    // File blocks show their file (fileview.ts); every other block is
    // the schema's.
    nodeViews: { block: ((node: Node) => (node.attrs.type === "file" ? new FileView(node, o.files.object()) : null)) as unknown as NodeViewConstructor },
    // Files dropped onto the page or pasted go where they were dropped
    // (after the block there) or after the cursor's block. A block
    // dragged by its handle is a move, not files.
    handleDrop(view, ev, _slice, moved) {
      const fs = filesOf((ev as DragEvent).dataTransfer);
      if (moved || view.dragging || !fs.length) return false;
      const at = view.posAtCoords({ left: (ev as DragEvent).clientX, top: (ev as DragEvent).clientY });
      void uploadFiles(view, fs, at ? at.pos : view.state.selection.from, o.files);
      return true;
    },
    handlePaste(view, ev) {
      const fs = filesOf(ev.clipboardData);
      if (!fs.length) return false;
      void uploadFiles(view, fs, view.state.selection.from, o.files);
      return true;
    },
    dispatchTransaction(tr) {
      // A drop is a move: out of the undo history, as blocks.ts says why.
      if (tr.getMeta("uiEvent") === "drop") tr.setMeta("addToHistory", false);
      v.updateState(v.state.apply(tr));
      if (tr.docChanged && !tr.getMeta("remote")) o.onChange();
    },
    handleClick(view, pos, ev) {
      const t = ev.target as HTMLElement;
      // A click on a to-do's box (drawn before its line) checks it.
      if (t.classList.contains("line") && t.parentElement?.dataset.type === "todo" && ev.offsetX < 22 && view.editable) {
        const b = blockAt(view.state.doc.resolve(pos));
        if (b) {
          const a = { ...(b.node.attrs.attrs || {}) } as Record<string, string>;
          a.checked = a.checked === "true" ? "false" : "true";
          view.dispatch(view.state.tr.setNodeAttribute(b.pos, "attrs", a));
        }
        return true;
      }
      // Mod-click on a mention opens its page.
      if (t.classList.contains("mention") && (ev.metaKey || ev.ctrlKey)) {
        const id = t.getAttribute("data-target");
        if (id) { o.openMention(id.split("#")[0]); return true; }
      }
      return false;
    },
  });
  dragHandle(v, host);
  return v;
}
