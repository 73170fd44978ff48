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
/** Transport is how PageSync reaches the device (fetch in the app, a fake in tests). */
export interface Transport {
  load(id: string): Promise<DocAnswer>;
  edit(id: string, base: string[], blocks: ApiBlock[], newVersion: boolean, editId: string): Promise<DocAnswer>;
}

export interface View { state: EditorState; dispatch(tr: Transaction): void }

interface Request { editId: string; base: string[]; blocks: ApiBlock[]; sent: Node; newVersion: boolean }

let editSeq = 0;
const session = Math.random().toString(36).slice(2);

export class PageSync {
  base: string[] = [];
  private dirty = false;
  private inflight = false;
  private closed = false;
  // req is the edit being sent: kept, and sent again as it was (same
  // edit id, base and blocks) until an answer comes, so that a lost
  // answer never makes the device apply it twice.
  private req: Request | null = null;
  private pendingRemote: string[] | null = null;
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
    if (this.timer === null && !this.closed) this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, ms);
  }

  /** busy: something typed is not yet merged by the device. */
  get busy() { return this.dirty || this.inflight || this.req !== null; }

  async flush(): Promise<void> {
    if (this.inflight) return;
    if (!this.req) {
      if (!this.dirty) return;
      this.dirty = false;
      const sent = this.view.state.doc;
      const now = Date.now();
      this.req = { editId: `${session}-${++editSeq}`, base: this.base, blocks: fromDoc(sent), sent, newVersion: now - this.lastSend > 10_000 };
      this.lastSend = now;
    }
    const q = this.req;
    this.inflight = true;
    let r: DocAnswer;
    try {
      r = await this.net.edit(this.id, q.base, q.blocks, q.newVersion, q.editId);
    } catch (e) {
      this.inflight = false;
      this.onError(String((e as Error).message || e));
      this.schedule(1000); // the same request again
      return;
    }
    this.req = null;
    this.inflight = false;
    this.onSaved();
    if (this.closed) return;
    if (this.view.state.doc.eq(q.sent)) {
      this.base = r.heads;
      const tr = reconcile(this.view.state, toDoc(r.blocks));
      if (tr) this.view.dispatch(tr);
    } else {
      // Typed on meanwhile: the next edit is the difference from exactly
      // the state sent, and its answer brings the merge.
      this.base = r.version && r.version.length ? r.version : r.heads;
      this.dirty = true;
    }
    if (this.dirty) this.schedule(0);
    else if (this.pendingRemote) {
      const h = this.pendingRemote;
      this.pendingRemote = null;
      void this.remote(h);
    }
  }

  /** remote is told that the page's heads are now heads. */
  async remote(heads: string[]) {
    if (this.closed) return;
    if (this.busy) { this.pendingRemote = heads; return; } // shown after the edit in flight
    if (same(heads, this.base)) return;
    const before = this.view.state.doc;
    const r = await this.net.load(this.id);
    if (this.closed) return;
    if (this.busy || !this.view.state.doc.eq(before)) { this.pendingRemote = r.heads; return; }
    this.base = r.heads;
    const tr = reconcile(this.view.state, toDoc(r.blocks));
    if (tr) this.view.dispatch(tr);
  }

  /** settle sends what is left to send (for up to timeout ms) and, once
   * nothing is, stops: call it before the page's view goes away, and keep
   * the page if it returns false. */
  async settle(timeout = 5000): Promise<boolean> {
    const end = Date.now() + timeout;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    while (this.busy && Date.now() < end) {
      if (!this.inflight) await this.flush();
      else await new Promise((ok) => setTimeout(ok, 20));
      if (this.req && !this.inflight) await new Promise((ok) => setTimeout(ok, 200)); // failed: wait, then again
    }
    const done = !this.busy;
    if (done) {
      this.closed = true;
      if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    } else {
      this.schedule(1000); // the page stays open and keeps trying
    }
    return done;
  }
}

function same(a: string[], b: string[]) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
