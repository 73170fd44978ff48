// The pickers that open while typing: "/" at the start of a word lists the
// block types (the block around the cursor becomes the one picked), and
// "[[" or "@" lists pages (the name typed so far searched through the
// device's full-text index) and inserts a mention of the one picked. Arrow
// keys move, Enter or Tab picks, Escape closes; the mouse works too.
import { Plugin, PluginKey, type EditorState } from "prosemirror-state";
import type { EditorView } from "prosemirror-view";
import { blockTypes, setType } from "./blocks.ts";
import { schema } from "./schema.ts";

export interface PageRef { id: string; title: string }

interface Trigger { kind: "slash" | "mention"; from: number; query: string }

/** trigger is the picker the text before the cursor opens, if any. */
export function trigger(state: EditorState): Trigger | null {
  const sel = state.selection;
  if (!sel.empty) return null;
  const $f = sel.$from;
  if ($f.parent.type !== schema.nodes.line) return null;
  const before = $f.parent.textBetween(Math.max(0, $f.parentOffset - 60), $f.parentOffset, "\n", "\ufffc");
  let m = /(?:^|\s)\/([\p{L}\p{N} ]{0,20})$/u.exec(before);
  if (m && !m[1].includes("  ")) return { kind: "slash", from: sel.from - m[1].length - 1, query: m[1] };
  m = /\[\[([^\]\n\ufffc]{0,60})$/.exec(before);
  if (m) return { kind: "mention", from: sel.from - m[1].length - 2, query: m[1] };
  m = /(?:^|\s)@([^\s@\ufffc]{0,40})$/u.exec(before);
  if (m) return { kind: "mention", from: sel.from - m[1].length - 1, query: m[1] };
  return null;
}

interface Item { label: string; pick(view: EditorView, t: Trigger): void }

const key = new PluginKey("picker");

/** pickerPlugin: findPages looks pages up by what was typed. */
export function pickerPlugin(findPages: (q: string) => Promise<PageRef[]>, attach: (view: EditorView) => void = () => {}): Plugin {
  let ui: PickerView | null = null;
  return new Plugin({
    key,
    view(view) {
      ui = new PickerView(view, findPages, attach);
      return ui;
    },
    props: {
      handleKeyDown(_view, ev) { return ui ? ui.key(ev) : false; },
    },
  });
}

class PickerView {
  private dom: HTMLUListElement;
  private items: Item[] = [];
  private index = 0;
  private current: Trigger | null = null;
  private dismissedAt = -1; // Escape: closed until the trigger moves
  private asked = 0;

  constructor(readonly view: EditorView, readonly findPages: (q: string) => Promise<PageRef[]>, readonly attach: (view: EditorView) => void) {
    this.dom = document.createElement("ul");
    this.dom.id = "picker";
    this.dom.setAttribute("role", "listbox");
    this.dom.hidden = true;
    document.body.append(this.dom);
    this.update(view);
  }

  update(view: EditorView) {
    const t = trigger(view.state);
    // Escape's dismissal ends with its trigger: a "/" typed again where
    // the one dismissed was (erased meanwhile) opens the menu again.
    if (!t) this.dismissedAt = -1;
    if (!t || t.from === this.dismissedAt) { this.close(); return; }
    const same = this.current && this.current.kind === t.kind && this.current.from === t.from && this.current.query === t.query;
    this.current = t;
    if (same && !this.dom.hidden) return;
    if (t.kind === "slash") {
      const q = t.query.toLowerCase();
      this.show(blockTypes.filter((b) => b.label.toLowerCase().includes(q) || b.type.includes(q)).map((b) => ({
        label: b.label,
        pick: (v, tr) => {
          v.dispatch(v.state.tr.delete(tr.from, v.state.selection.from));
          if (b.type === "file") this.attach(v); // a new block for each file picked, after this one
          else setType(b.type, b.attrs)(v.state, v.dispatch);
        },
      })));
    } else {
      const ask = ++this.asked;
      void this.findPages(t.query).then((pages) => {
        if (ask !== this.asked || !this.current || this.current.kind !== "mention") return;
        this.show(pages.slice(0, 8).map((p) => ({
          label: p.title || "Untitled",
          pick: (v, tr) => {
            const mark = schema.marks.mention.create({ value: p.id });
            const text = schema.text(p.title || "Untitled", [mark]);
            const t2 = v.state.tr.replaceWith(tr.from, v.state.selection.from, text);
            t2.insertText(" ").removeStoredMark(schema.marks.mention);
            v.dispatch(t2.scrollIntoView());
          },
        })));
      });
    }
  }

  private show(items: Item[]) {
    this.items = items;
    this.index = 0;
    if (!items.length || !this.current) { this.dom.hidden = true; return; }
    this.dom.replaceChildren(...items.map((it, i) => {
      const li = document.createElement("li");
      li.textContent = it.label;
      li.setAttribute("role", "option");
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); this.index = i; this.pick(); });
      return li;
    }));
    this.mark();
    const c = this.view.coordsAtPos(this.current.from);
    this.dom.style.left = c.left + window.scrollX + "px";
    this.dom.style.top = c.bottom + window.scrollY + 4 + "px";
    this.dom.hidden = false;
  }

  private mark() {
    this.dom.querySelectorAll("li").forEach((li, i) => li.setAttribute("aria-selected", String(i === this.index)));
  }

  private pick() {
    const it = this.items[this.index], t = this.current;
    this.close();
    if (it && t) { it.pick(this.view, t); this.view.focus(); }
  }

  private close() {
    this.dom.hidden = true;
    this.items = [];
    this.current = null;
  }

  key(ev: KeyboardEvent): boolean {
    if (this.dom.hidden || !this.items.length) return false;
    switch (ev.key) {
      case "ArrowDown": this.index = (this.index + 1) % this.items.length; this.mark(); return true;
      case "ArrowUp": this.index = (this.index + this.items.length - 1) % this.items.length; this.mark(); return true;
      case "Enter": case "Tab": this.pick(); return true;
      case "Escape": this.dismissedAt = this.current ? this.current.from : -1; this.close(); return true;
    }
    return false;
  }

  destroy() { this.dom.remove(); }
}
