// Keeping an open page and the device in step. Typing is sent at once,
// then at most every 50 ms (what is typed meanwhile goes together), as the
// page's whole block tree on the version it was made
// on (its base heads); the device merges it with whatever came in since.
// The answer's merged page is shown only when nothing was typed meanwhile;
// otherwise the next edit is based on the exact version sent (so its
// difference holds only the new typing) and the merged page comes with its
// answer. Remote changes are shown as replacements of only the ranges that
// differ, so the cursor and selection outside them stay where they are, and
// nothing typed is ever overwritten: a page that changed locally is never
// replaced, only merged through the device.
import type { Node, Slice } from "prosemirror-model";
import { TextSelection, type EditorState, type Transaction } from "prosemirror-state";
import { fromDoc, toDoc, type ApiBlock } from "./convert.ts";

/** reconcile makes the transaction that turns state's document into
 * target, changing as little as it can: where both have the same blocks
 * (by id) in the same places, each block's attributes are set and each
 * line's differing range replaced on its own, so a cursor in a block or
 * between ranges that changed stays on its character; where the blocks
 * themselves differ (added, removed, moved), the one range of them that
 * differs is replaced. Null when they are the same. */
export function reconcile(state: EditorState, target: Node): Transaction | null {
  const tr = state.tr;
  const sel = state.selection;
  const marks: { pos: number; attrs: Record<string, unknown> }[] = [];
  const repl: { from: number; to: number; slice: Slice }[] = [];
  diffInto(marks, repl, state.doc, target, 0);
  for (const m of marks) setAttrs(tr, m.pos, m.attrs); // positions do not move
  repl.sort((x, y) => y.from - x.from); // the last first: earlier positions stay valid
  for (const r of repl) tr.replace(r.from, r.to, r.slice);
  if (!tr.docChanged) return null;
  // Text inserted right at the cursor goes after it: the cursor stays
  // after what this editor typed last, where its next typing goes.
  if (repl.length && sel instanceof TextSelection) tr.setSelection(TextSelection.create(tr.doc, tr.mapping.map(sel.anchor, -1), tr.mapping.map(sel.head, -1)));
  return notTyped(state, tr);
}

/** notTyped marks tr as none of the person's doing (not in their undo
 * history) and keeps the marks they are about to type with. ProseMirror
 * drops stored marks at any step or selection change: a remote change or
 * an edit's answer landing between "==high==" (which leaves the
 * highlight off for what follows) and the next key made " plain" take the
 * highlight, since typing at a mark's end continues it. */
export function notTyped(state: EditorState, tr: Transaction): Transaction {
  if (state.storedMarks && !tr.storedMarksSet && tr.selection.empty) tr.setStoredMarks(state.storedMarks);
  return tr.setMeta("addToHistory", false).setMeta("remote", true);
}

// setAttrs sets the attributes of the node at pos that differ, each by an
// attribute step of its own: an undo of the person's earlier change of one
// attribute (a block's type) then puts back that one alone, not a whole
// older set (which would take back an id the device gave the block since).
function setAttrs(tr: Transaction, pos: number, attrs: Record<string, unknown>) {
  const n = tr.doc.nodeAt(pos)!;
  for (const [k, v] of Object.entries(attrs)) if (JSON.stringify(n.attrs[k]) !== JSON.stringify(v)) tr.setNodeAttribute(pos, k, v);
}

// diffInto lists what turns a's content into b's (a at content position
// pos of the current document).
function diffInto(marks: { pos: number; attrs: Record<string, unknown> }[], repl: { from: number; to: number; slice: Slice }[], a: Node, b: Node, pos: number) {
  if (a.content.eq(b.content)) return;
  if (a.isTextblock && b.isTextblock) {
    for (const [af, at, bf, bt] of changedRuns(units(a), units(b))) repl.push({ from: pos + af, to: pos + at, slice: b.slice(bf, bt) });
    return;
  }
  const sameShape = !a.isTextblock && a.childCount === b.childCount && a.content.content.every((c, i) => {
    const t = b.child(i);
    return c.type === t.type && (c.type.name !== "block" || c.attrs.id === t.attrs.id || !c.attrs.id);
  });
  if (!sameShape) {
    const start = a.content.findDiffStart(b.content);
    if (start == null) return;
    let { a: endA, b: endB } = a.content.findDiffEnd(b.content)!;
    const overlap = start - Math.min(endA, endB);
    if (overlap > 0) { endA += overlap; endB += overlap; }
    repl.push({ from: pos + start, to: pos + endA, slice: b.slice(start, endB) });
    return;
  }
  a.forEach((c, off, i) => {
    const t = b.child(i);
    if (c.eq(t)) return;
    if (!c.hasMarkup(t.type, t.attrs)) marks.push({ pos: pos + off, attrs: t.attrs });
    diffInto(marks, repl, c, t, pos + off + 1);
  });
}

// units are a line's UTF-16 units (ProseMirror's positions), each with its
// marks, as comparable strings.
function units(line: Node): string[] {
  const out: string[] = [];
  line.forEach((t) => {
    const m = t.marks.map((x) => x.type.name + (x.attrs.type ? ":" + x.attrs.type : "") + (x.attrs.value ? "=" + x.attrs.value : "")).join(",");
    for (const ch of t.text || "") for (let i = 0; i < ch.length; i++) out.push(ch[i] + m);
  });
  return out;
}

// maxEdits bounds changedRuns' search: lines that differ in more places
// than this are shown changed as one range (a remote rewrite of a long
// code block, say), which costs the cursor's place in it, not the text.
const maxEdits = 1000;

/** changedRuns is a shortest edit script from a to b (Myers' O(ND)
 * diff, common prefix and suffix trimmed first) as runs of change:
 * [aFrom, aTo, bFrom, bTo], a[aFrom:aTo] becoming b[bFrom:bTo]. */
export function changedRuns(a: string[], b: string[]): [number, number, number, number][] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const n = a.length - pre - suf, m = b.length - pre - suf;
  if (n === 0 && m === 0) return [];
  if (n === 0 || m === 0) return [[pre, pre + n, pre, pre + m]];
  const max = n + m, off = max + 1;
  const v = new Int32Array(2 * max + 3);
  // trace[d] is v before step d, over the diagonals it can read (-d..d):
  // memory grows with the square of the differences, not with the
  // lines' length.
  const trace: Int32Array[] = [];
  let found = false;
  for (let d = 0; d <= max && !found; d++) {
    if (d > maxEdits) return [[pre, pre + n, pre, pre + m]]; // too different: one replacement
    trace.push(v.slice(off - d, off + d + 1));
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[pre + x] === b[pre + y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) { found = true; break; }
    }
  }
  // Walk back from the end: each d is a diagonal, then before it one
  // deletion (x moved) or insertion (y moved).
  const steps: [number, number, number, number][] = []; // [x0, y0, x1, y1], last first
  let x = n, y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const pv = trace[d], k = x - y; // pv[j + d] is diagonal j
    const pk = k === -d || (k !== d && pv[k - 1 + d] < pv[k + 1 + d]) ? k + 1 : k - 1;
    const px = pv[pk + d], py = px - pk;
    while (x > px && y > py) { x--; y--; }
    if (d > 0) steps.push([px, py, x, y]);
    x = px; y = py;
  }
  const runs: [number, number, number, number][] = [];
  for (let i = steps.length - 1; i >= 0; i--) {
    const [x0, y0, x1, y1] = steps[i];
    const last = runs[runs.length - 1];
    if (last && last[1] === pre + x0 && last[3] === pre + y0) { last[1] = pre + x1; last[3] = pre + y1; }
    else runs.push([pre + x0, pre + x1, pre + y0, pre + y1]);
  }
  return runs;
}

export interface DocAnswer {
  id: string; heads: string[]; details: Record<string, string>; blocks: ApiBlock[] | null; version?: string[]; merged?: boolean;
  new_ids?: string[]; renamed?: Record<string, string>; same?: boolean; // an edit's answer: see api.DocEdited
}

let tmpSeq = 0;

// sentAsNew lists the blocks of doc that fromDoc sends as new (no id, or
// the id of a block before it: a split copies it), with their positions.
function sentAsNew(doc: Node): { node: Node; pos: number }[] {
  const out: { node: Node; pos: number }[] = [];
  const seen = new Set<string>();
  doc.descendants((n, pos) => {
    if (n.type.name !== "block") return false;
    const id = n.attrs.id as string;
    if (!id || seen.has(id)) out.push({ node: n, pos });
    else seen.add(id);
    return true;
  });
  return out;
}

/** tagNew names (attribute tmp) every block of state that would be sent
 * as new and has no name of its own yet, so that the ids the device gives
 * them find them even after more typing. Null when none needs one. */
export function tagNew(state: EditorState): Transaction | null {
  const tr = state.tr;
  const names = new Set<string>();
  for (const { node, pos } of sentAsNew(state.doc)) {
    const tmp = node.attrs.tmp as string;
    if (tmp && !names.has(tmp)) { names.add(tmp); continue; }
    const fresh = `t${session}.${++tmpSeq}`;
    names.add(fresh);
    tr.setNodeAttribute(pos, "id", "").setNodeAttribute(pos, "tmp", fresh);
  }
  return tr.docChanged ? notTyped(state, tr) : null;
}

/** giveIds gives the blocks of state named in ids (tmp → id) their ids.
 * Null when none is there. */
export function giveIds(state: EditorState, ids: Map<string, string>, renamed: Record<string, string> = {}): Transaction | null {
  const tr = state.tr;
  const done = new Set<string>();
  state.doc.descendants((n, pos) => {
    if (n.type.name !== "block") return false;
    const tmp = n.attrs.tmp as string, id = n.attrs.id as string;
    if (tmp && ids.has(tmp)) {
      // A block split since has its name twice: the first takes the id,
      // the other stays new.
      tr.setNodeAttribute(pos, "id", done.has(tmp) ? "" : ids.get(tmp)!).setNodeAttribute(pos, "tmp", "");
      done.add(tmp);
    } else if (!tmp && id && Object.prototype.hasOwnProperty.call(renamed, id) && !done.has("=" + id)) {
      // Sent with an id the page no longer showed: made new under this one.
      tr.setNodeAttribute(pos, "id", renamed[id]);
      done.add("=" + id);
    }
    return true;
  });
  return tr.docChanged ? notTyped(state, tr) : null;
}

/** idsOf maps the names of the blocks sent as new in sent to the ids
 * the device gave them (newIds, in the same order). */
function idsOf(sent: Node, newIds: string[]): Map<string, string> {
  const m = new Map<string, string>();
  sentAsNew(sent).forEach(({ node }, i) => { if (node.attrs.tmp && i < newIds.length) m.set(node.attrs.tmp, newIds[i]); });
  return m;
}

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
  private loading = false; // a remote() load in flight
  private again: string[] | null = null; // heads told of meanwhile
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastSend = 0;
  onError: (msg: string) => void = () => {};
  onSaved: () => void = () => {};

  constructor(readonly id: string, readonly view: View, readonly net: Transport, readonly delay = 50) {}

  /** changed is told of every local edit: sent at once when nothing was
   * sent for delay ms, else with what follows, delay ms after the last. */
  changed() {
    this.dirty = true;
    this.schedule(Math.max(0, this.delay - (Date.now() - this.lastSend)));
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
      const named = tagNew(this.view.state);
      if (named) this.view.dispatch(named);
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
    const ids = idsOf(q.sent, r.new_ids || []);
    const exact = r.version && r.version.length ? r.version : null;
    if (this.view.state.doc.eq(q.sent)) {
      if (r.same || r.blocks) {
        this.base = r.heads;
        const tr = r.same || !r.blocks ? giveIds(this.view.state, ids, r.renamed) : reconcile(this.view.state, toDoc(r.blocks));
        if (tr) this.view.dispatch(tr);
      } else {
        // Stored, but answered without the page: the state sent is the
        // base, and the page is loaded again to show what it merged.
        const tr = giveIds(this.view.state, ids, r.renamed);
        if (tr) this.view.dispatch(tr);
        this.base = exact || r.heads;
        this.pendingRemote = r.heads;
      }
    } else {
      // Typed on meanwhile: the next edit is the difference from exactly
      // the state sent (its new blocks by the ids they got), and its
      // answer brings the merge.
      const tr = giveIds(this.view.state, ids, r.renamed);
      if (tr) this.view.dispatch(tr);
      this.base = exact || r.heads;
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
    // One load at a time: a second change while one is loading is shown
    // after it (two loads answered out of order left the older shown, and
    // a page nobody typed on stayed behind until its next change).
    if (this.loading) { this.again = heads; return; }
    if (same(heads, this.base)) return;
    const before = this.view.state.doc;
    this.loading = true;
    try {
      let r: DocAnswer;
      try {
        r = await this.net.load(this.id);
      } catch (e) {
        this.onError(String((e as Error).message || e));
        if (!this.closed) setTimeout(() => void this.remote(heads), 1000); // again, even if nothing is typed
        return;
      }
      if (this.closed) return;
      if (this.busy) { this.pendingRemote = r.heads; return; } // typed meanwhile: shown after its edit
      if (!this.view.state.doc.eq(before)) { this.again = r.heads; return; } // an edit's answer shown meanwhile: look again
      this.base = r.heads;
      const tr = reconcile(this.view.state, toDoc(r.blocks || []));
      if (tr) this.view.dispatch(tr);
    } finally {
      this.loading = false;
      const h = this.again;
      this.again = null;
      if (h) void this.remote(h);
    }
  }

  /** idle sends what is left to send (for up to timeout ms) and says
   * whether all of it is merged by the device. */
  async idle(timeout = 5000): Promise<boolean> {
    const end = Date.now() + timeout;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    while (this.busy && Date.now() < end) {
      if (!this.inflight) await this.flush();
      else await new Promise((ok) => setTimeout(ok, 20));
      if (this.req && !this.inflight) await new Promise((ok) => setTimeout(ok, 200)); // failed: wait, then again
    }
    return !this.busy;
  }

  /** settle is idle and, once nothing is left to send, stops: call it
   * before the page's view goes away, and keep the page if it returns
   * false. */
  async settle(timeout = 5000): Promise<boolean> {
    const done = await this.idle(timeout);
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
