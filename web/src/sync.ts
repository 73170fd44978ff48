// Keeping an open page and the device in step. Typing is sent at most
// every 50 ms as the page's whole block tree on the version it was made
// on (its base heads); the device merges it with whatever came in since.
// The answer's merged page is shown only when nothing was typed meanwhile;
// otherwise the next edit is based on the exact version sent (so its
// difference holds only the new typing) and the merged page comes with its
// answer. Remote changes are shown as a replacement of the one range that
// differs, so the cursor and selection outside it stay where they are, and
// nothing typed is ever overwritten: a page that changed locally is never
// replaced, only merged through the device.
import type { Node } from "prosemirror-model";
import type { EditorState, Transaction } from "prosemirror-state";
import { fromDoc, toDoc, type ApiBlock } from "./convert.ts";

/** reconcile makes the transaction that turns state's document into
 * target: block ids the device gave to new blocks are copied in place
 * (the text and the cursor untouched), then the range that differs is
 * replaced. Null when they are the same. */
export function reconcile(state: EditorState, target: Node): Transaction | null {
  const tr = state.tr;
  copyIds(tr, tr.doc, target, 0);
  const cur = tr.doc;
  const start = cur.content.findDiffStart(target.content);
  if (start != null) {
    let { a: endA, b: endB } = cur.content.findDiffEnd(target.content)!;
    const overlap = start - Math.min(endA, endB);
    if (overlap > 0) { endA += overlap; endB += overlap; }
    tr.replace(start, endA, target.slice(start, endB));
  }
  if (!tr.docChanged) return null;
  return tr.setMeta("addToHistory", false).setMeta("remote", true);
}

// copyIds gives blocks of cur (at offset base) the ids of the blocks of
// target at the same places, where the two have as many children and the
// same types.
function copyIds(tr: Transaction, cur: Node, target: Node, base: number) {
  if (cur.childCount !== target.childCount) return;
  cur.forEach((c, off, i) => {
    const t = target.child(i);
    if (c.type !== t.type || c.type.name !== "block" || c.attrs.type !== t.attrs.type) return;
    const pos = base + off;
    if (c.attrs.id !== t.attrs.id && t.attrs.id) tr.setNodeMarkup(tr.mapping.map(pos), undefined, { ...c.attrs, id: t.attrs.id });
    copyIds(tr, c, t, pos + 1);
  });
}

export interface DocAnswer { id: string; heads: string[]; details: Record<string, string>; blocks: ApiBlock[]; version?: string[]; merged?: boolean }

/** Transport is how PageSync reaches the device (fetch in the app, a fake in tests). */
export interface Transport {
  load(id: string): Promise<DocAnswer>;
  edit(id: string, base: string[], blocks: ApiBlock[], newVersion: boolean): Promise<DocAnswer>;
}

export interface View { state: EditorState; dispatch(tr: Transaction): void }

export class PageSync {
  base: string[] = [];
  private dirty = false;
  private inflight = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastSend = 0;
  onError: (msg: string) => void = () => {};
  onSaved: () => void = () => {};

  constructor(readonly id: string, readonly view: View, readonly net: Transport, readonly delay = 50) {}

  /** changed is told of every local edit. */
  changed() {
    this.dirty = true;
    this.schedule(this.delay);
  }

  private schedule(ms: number) {
    if (this.timer === null) this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, ms);
  }

  /** busy: something typed is not yet merged by the device. */
  get busy() { return this.dirty || this.inflight; }

  async flush(): Promise<void> {
    if (this.inflight || !this.dirty) return;
    this.dirty = false;
    this.inflight = true;
    const sent = this.view.state.doc;
    const now = Date.now();
    try {
      const r = await this.net.edit(this.id, this.base, fromDoc(sent), now - this.lastSend > 10_000);
      this.lastSend = now;
      this.inflight = false;
      if (this.view.state.doc.eq(sent)) {
        const tr = reconcile(this.view.state, toDoc(r.blocks));
        if (tr) this.view.dispatch(tr);
        this.base = r.heads;
      } else {
        this.base = r.version && r.version.length ? r.version : r.heads;
        this.dirty = true;
        this.schedule(0);
      }
      this.onSaved();
    } catch (e) {
      this.inflight = false;
      this.dirty = true;
      this.onError(String((e as Error).message || e));
      this.schedule(1000);
    }
  }

  /** remote is told that the page's heads are now heads. */
  async remote(heads: string[]) {
    if (this.busy || same(heads, this.base)) return;
    const before = this.view.state.doc;
    const r = await this.net.load(this.id);
    if (this.busy || !this.view.state.doc.eq(before)) return; // typed meanwhile: the next edit's answer merges it
    const tr = reconcile(this.view.state, toDoc(r.blocks));
    if (tr) this.view.dispatch(tr);
    this.base = r.heads;
  }
}

function same(a: string[], b: string[]) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
