// The mapping between the editor and mycel's blocks, and the sync of an
// open page under concurrent edits, against a fake device that merges the
// way mycel's does (each edit is its difference from its base, applied on
// top of what came since: here, blocks by id, text by common prefix and
// suffix).
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState, TextSelection } from "prosemirror-state";
import { fromDoc, toDoc, type ApiBlock } from "../src/convert.ts";
import { downloadNote } from "../src/api.ts";
import { changedRuns, giveIds, PageSync, reconcile, tagNew, type DocAnswer, type Transport } from "../src/sync.ts";

const page: ApiBlock[] = [
  { id: "1@aa", type: "heading1", text: "Garden 🌱", marks: [{ start: 0, end: 6, type: "bold" }] },
  { id: "2@aa", type: "bulleted", text: "roses", children: [{ id: "3@aa", type: "todo", attrs: { checked: "true" }, text: "water", marks: [{ start: 0, end: 5, type: "link", value: "https://x.example" }] }] },
];

test("blocks survive the editor both ways, with marks over code points", () => {
  assert.deepEqual(fromDoc(toDoc(page)), page);
});

test("a split block's copied id is sent as a new block", () => {
  const doc = toDoc([{ id: "1@aa", type: "paragraph", text: "ab" }, { id: "1@aa", type: "paragraph", text: "cd" }]);
  assert.deepEqual(fromDoc(doc).map((b) => b.id), ["1@aa", ""]);
});

// at is the document position of code point k of block i's text.
function at(state: EditorState, i: number, k: number): number {
  let pos = 0;
  for (let j = 0; j < i; j++) pos += state.doc.child(j).nodeSize;
  return pos + 2 + k;
}

test("a remote edit above the cursor keeps the cursor on its character", () => {
  let state = EditorState.create({ doc: toDoc([{ id: "1@a", type: "paragraph", text: "first" }, { id: "2@a", type: "paragraph", text: "second" }]) });
  state = state.apply(state.tr.setSelection(TextSelection.create(state.doc, at(state, 1, 3))));
  const tr = reconcile(state, toDoc([{ id: "1@a", type: "paragraph", text: "first, typed elsewhere" }, { id: "2@a", type: "paragraph", text: "second" }]))!;
  state = state.apply(tr);
  assert.equal(state.doc.textBetween(state.selection.from - 3, state.selection.from), "sec");
  assert.equal(tr.getMeta("addToHistory"), false);
});

test("ids the device gives new blocks are copied in without touching the text or the cursor", () => {
  let state = EditorState.create({ doc: toDoc([{ id: "", type: "paragraph", text: "new block" }]) });
  state = state.apply(state.tr.setSelection(TextSelection.create(state.doc, at(state, 0, 3))));
  state = state.apply(reconcile(state, toDoc([{ id: "9@b", type: "paragraph", text: "new block" }]))!);
  assert.equal(state.doc.child(0).attrs.id, "9@b");
  assert.equal(state.selection.from, at(state, 0, 3));
});

test("a mark turned off for what comes next stays off through remote changes and answers", () => {
  // As after "==high==": the highlight ends the text, and the marks to type
  // with are none (typing at a mark's end would continue it).
  const blocks = (first: string, newId: string): ApiBlock[] => [
    { id: "1@a", type: "paragraph", text: first },
    { id: "2@a", type: "paragraph", text: "a high", marks: [{ start: 2, end: 6, type: "highlight" }] },
    { id: newId, type: "paragraph", text: "a new block" },
  ];
  let state = EditorState.create({ doc: toDoc(blocks("elsewhere", "")) });
  state = state.apply(state.tr.setSelection(TextSelection.create(state.doc, at(state, 1, 6))).setStoredMarks([]));
  const typeOn = (s: EditorState) => fromDoc(s.apply(s.tr.insertText(" plain")).doc)[1].marks;
  assert.deepEqual(typeOn(state), [{ start: 2, end: 6, type: "highlight" }], "the test's own premise");
  state = state.apply(tagNew(state)!); // an edit names the new block
  state = state.apply(giveIds(state, new Map([[state.doc.child(2).attrs.tmp as string, "7@a"]]))!); // its answer
  assert.equal(state.doc.child(2).attrs.id, "7@a");
  assert.deepEqual(typeOn(state), [{ start: 2, end: 6, type: "highlight" }]);
  state = state.apply(reconcile(state, toDoc(blocks("elsewhere, typed on another device", "7@a")))!); // a remote change
  assert.deepEqual(typeOn(state), [{ start: 2, end: 6, type: "highlight" }]);
});

// fakeDevice merges edits as mycel does: the difference between an edit's
// base and its blocks, on top of the current page.
function fakeDevice(initial: ApiBlock[]) {
  const versions = new Map<string, ApiBlock[]>();
  let n = 0;
  let cur = initial;
  const put = (blocks: ApiBlock[]) => { const h = "v" + ++n; versions.set(h, blocks); cur = blocks; return h; };
  let head = put(initial);
  const answered = new Map<string, DocAnswer>(); // the device's memory of edit ids
  const merge = (base: ApiBlock[], mine: ApiBlock[], theirs: ApiBlock[]): ApiBlock[] =>
    theirs.map((t) => {
      const b = base.find((x) => x.id === t.id), m = mine.find((x) => x.id === t.id);
      if (!b || !m || m.text === b.text) return t;
      return { ...t, text: mergeText(b.text, m.text, t.text) };
    }).concat(mine.filter((m) => !m.id).map((m, i) => ({ ...m, id: `new${n}.${i}@b` })));
  const dev = {
    get page() { return cur; },
    remote(blocks: ApiBlock[]) { head = put(blocks); return head; },
    net: {
      async load(): Promise<DocAnswer> { return { id: "p", heads: [head], details: {}, blocks: cur }; },
      async edit(_id: string, base: string[], blocks: ApiBlock[], _nv: boolean, editId: string): Promise<DocAnswer> {
        if (answered.has(editId)) return answered.get(editId)!;
        const b = versions.get(base[0])!;
        const merged = merge(b, blocks, cur);
        const newIds = merged.filter((m) => m.id.startsWith("new" + n + ".")).map((m) => m.id);
        const sentVersion = put(blocks.map((x) => (x.id ? x : { ...x, id: newIds[blocks.filter((y) => !y.id).indexOf(x)] })));
        head = put(merged);
        const same = JSON.stringify(merged.map((x) => [x.type, x.text])) === JSON.stringify(blocks.map((x) => [x.type, x.text]));
        const a = { id: "p", heads: [head], version: [sentVersion], details: {}, blocks: same ? null : merged, merged: base[0] !== head, new_ids: newIds, same };
        answered.set(editId, a);
        return a;
      },
    } satisfies Transport,
  };
  return dev;
}

// mergeText applies mine's change from base (one range) to theirs.
function mergeText(base: string, mine: string, theirs: string): string {
  let s = 0;
  while (s < base.length && s < mine.length && base[s] === mine[s]) s++;
  let e = 0;
  while (e < base.length - s && e < mine.length - s && base[base.length - 1 - e] === mine[mine.length - 1 - e]) e++;
  const inserted = mine.slice(s, mine.length - e);
  // Where base's s-th character is in theirs: base's characters are a
  // subsequence of theirs where the other side only inserted (as in these
  // tests, whose inserted characters are all distinct from base's).
  let p = 0;
  for (let i = 0; i < s; i++) {
    const j = theirs.indexOf(base[i], p);
    if (j < 0) { p = theirs.length; break; }
    p = j + 1;
  }
  let q = p; // the end of what mine replaced, likewise
  for (let i = s; i < base.length - e; i++) {
    const j = theirs.indexOf(base[i], q);
    if (j >= 0) q = j + 1;
  }
  return theirs.slice(0, p) + inserted + theirs.slice(q);
}

test("typing on while an edit is in flight: nothing typed is lost and the remote text arrives", async () => {
  const dev = fakeDevice([{ id: "1@a", type: "paragraph", text: "hello" }, { id: "2@a", type: "paragraph", text: "other" }]);
  let state = EditorState.create({ doc: toDoc(dev.page) });
  const view = { get state() { return state; }, dispatch(tr: import("prosemirror-state").Transaction) { state = state.apply(tr); } };
  const sync = new PageSync("p", view, dev.net, 1000);
  sync.base = ["v1"];
  const type = (s: string) => { view.dispatch(state.tr.insertText(s, at(state, 0, Array.from(state.doc.child(0).textContent).length))); sync.changed(); };
  type(" world");
  dev.remote([{ id: "1@a", type: "paragraph", text: "hello" }, { id: "2@a", type: "paragraph", text: "other, edited remotely" }]);
  const flight = sync.flush();
  type("!"); // typed while the edit is in flight
  await flight;
  assert.equal(state.doc.child(0).textContent, "hello world!", "the editor keeps what was typed");
  await sync.flush(); // the next edit, based on the version sent
  assert.equal(state.doc.child(0).textContent, "hello world!");
  assert.equal(state.doc.child(1).textContent, "other, edited remotely");
  assert.equal(dev.page[0].text, "hello world!");
  assert.equal(dev.page[1].text, "other, edited remotely");
});

test("an edit whose answer is lost is sent again as it was, and applied once", async () => {
  const dev = fakeDevice([{ id: "1@a", type: "paragraph", text: "hello" }]);
  let lose = true;
  const net: Transport = {
    load: dev.net.load,
    async edit(id, base, blocks, nv, editId) {
      const a = await dev.net.edit(id, base, blocks, nv, editId);
      if (lose) { lose = false; throw new Error("connection reset"); } // stored, but the answer is lost
      return a;
    },
  };
  let state = EditorState.create({ doc: toDoc(dev.page) });
  const view = { get state() { return state; }, dispatch(tr: import("prosemirror-state").Transaction) { state = state.apply(tr); } };
  const sync = new PageSync("p", view, net, 1000);
  sync.base = ["v1"];
  view.dispatch(state.tr.insertText(" world", at(state, 0, 5)));
  sync.changed();
  await sync.flush(); // lost
  assert.ok(sync.busy);
  await sync.flush(); // the same request again
  assert.equal(dev.page[0].text, "hello world");
  assert.equal(state.doc.child(0).textContent, "hello world");
  assert.ok(!sync.busy);
  assert.ok(await sync.settle());
});

// A block made here and typed on while the edit that made it is in
// flight: it gets its id from the answer all the same, so the next edit
// does not send it as new a second time.
test("a new block typed on during its edit is not sent as new twice", async () => {
  const dev = fakeDevice([{ id: "1@a", type: "paragraph", text: "hello" }]);
  let state = EditorState.create({ doc: toDoc(dev.page) });
  const view = { get state() { return state; }, dispatch(tr: import("prosemirror-state").Transaction) { state = state.apply(tr); } };
  const sync = new PageSync("p", view, dev.net, 1_000_000);
  sync.base = ["v1"];
  const end = state.doc.content.size;
  view.dispatch(state.tr.insert(end, toDoc([{ id: "", type: "paragraph", text: "new" }]).child(0)));
  sync.changed();
  const flight = sync.flush();
  view.dispatch(state.tr.insertText("er", state.doc.content.size - 2)); // typed on in the new block
  sync.changed();
  await flight;
  assert.match(state.doc.child(1).attrs.id, /^new/, "the new block has its id");
  await sync.flush();
  assert.deepEqual(dev.page.map((b) => b.text), ["hello", "newer"]);
  assert.equal(state.doc.childCount, 2);
  assert.ok(await sync.settle());
});

test("an answer without the page (same) gives the new blocks their ids and leaves the rest", async () => {
  const dev = fakeDevice([{ id: "1@a", type: "paragraph", text: "hello" }]);
  let state = EditorState.create({ doc: toDoc(dev.page) });
  const view = { get state() { return state; }, dispatch(tr: import("prosemirror-state").Transaction) { state = state.apply(tr); } };
  const sync = new PageSync("p", view, dev.net, 1_000_000);
  sync.base = ["v1"];
  view.dispatch(state.tr.insert(state.doc.content.size, toDoc([{ id: "", type: "heading1", text: "title" }]).child(0)));
  sync.changed();
  await sync.flush();
  assert.equal(fromDoc(state.doc)[1].type, "heading1");
  assert.match(state.doc.child(1).attrs.id, /^new/);
  assert.equal(state.doc.child(1).attrs.tmp, "", "its name is dropped once it has an id");
  assert.deepEqual(fromDoc(state.doc), dev.page);
  assert.ok(await sync.settle());
});

test("a code block keeps its line breaks through the editor", () => {
  const code: ApiBlock[] = [{ id: "1@a", type: "code", attrs: { language: "go" }, text: "a := 1\n\tb  := 2\n" }];
  assert.deepEqual(fromDoc(toDoc(code)), code);
});

// A small deterministic random source (mulberry32), so a failure repeats.
function rand(seed: number) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Concurrent typing, many times over: this editor types at its cursor
// (A, B, …) while another device inserts letters (α, β, …) anywhere on the
// page, in the same paragraph too; edits are sent, answered and remote
// changes shown in random interleavings. Every character of both sides
// ends up on the device and in the editor, in the order each typed it,
// and whenever the page shows a remote change the cursor is still right
// after the last character this editor typed.
test("concurrent typing on both sides, in random interleavings: nothing lost, the cursor stays", async () => {
  for (let seed = Number(process.env.SEED || 1); seed <= Number(process.env.SEED || 60); seed++) {
    const r = rand(seed);
    const dev = fakeDevice([{ id: "1@a", type: "paragraph", text: "one" }, { id: "2@a", type: "paragraph", text: "two" }, { id: "3@a", type: "paragraph", text: "three" }]);
    let state = EditorState.create({ doc: toDoc(dev.page) });
    const view = { get state() { return state; }, dispatch(tr: import("prosemirror-state").Transaction) { state = state.apply(tr); } };
    const sync = new PageSync("p", view, dev.net, 1_000_000); // flushed by hand below
    sync.base = ["v1"];
    const blockOf = Math.floor(r() * 3);
    state = state.apply(state.tr.setSelection(TextSelection.create(state.doc, at(state, blockOf, Math.floor(r() * 3)))));
    let typed = "", remote: string[] = [];
    const flights: Promise<void>[] = [];
    for (let step = 0; step < 30; step++) {
      const x = r();
      if (x < 0.4) {
        const ch = String.fromCharCode(0x41 + step); // A, B, …: each once
        typed += ch;
        view.dispatch(state.tr.insertText(ch));
        sync.changed();
      } else if (x < 0.7) {
        // The other device inserts a digit into some block, never exactly
        // at this editor's cursor (there, either order is right).
        const ch = String.fromCharCode(0x3b1 + step); // α, β, …: each once
        const cur = dev.page.map((b) => ({ ...b }));
        const i = Math.floor(r() * cur.length);
        const cps = Array.from(cur[i].text);
        const k = Math.floor(r() * (cps.length + 1));
        cps.splice(k, 0, ch);
        cur[i].text = cps.join("");
        remote.push(ch);
        const heads = [dev.remote(cur)];
        flights.push(sync.remote(heads));
      } else {
        flights.push(sync.flush());
      }
      if (r() < 0.5) await Promise.all(flights.splice(0));
      if (!sync.busy && typed) {
        const before = state.doc.textBetween(Math.max(0, state.selection.from - 1), state.selection.from);
        assert.equal(before, typed.slice(-1), `seed ${seed} step ${step}: the cursor left what it typed: ${JSON.stringify(state.doc.textBetween(0, state.doc.content.size, "|"))} at ${state.selection.from}; device ${JSON.stringify(dev.page.map((b) => b.text))}`);
      }
    }
    await Promise.all(flights);
    for (let i = 0; i < 5 && sync.busy; i++) await sync.flush();
    await sync.remote(["none"]); // show the last remote state
    const all = dev.page.map((b) => b.text).join("|");
    const shown = fromDoc(state.doc).map((b) => b.text).join("|");
    assert.equal(shown, all, `seed ${seed}: the editor shows the device's page`);
    assert.equal([...all].filter((c) => c >= "A" && c <= "_").join(""), typed, `seed ${seed}: what was typed, in order`);
    for (const d of remote) assert.equal(all.split(d).length, 2, `seed ${seed}: the remote ${d} is kept, once`);
    assert.ok(await sync.settle(), `seed ${seed}: settles`);
  }
});

test("changedRuns is a shortest edit script that turns a into b", () => {
  const r = rand(7);
  for (let i = 0; i < 500; i++) {
    const mk = () => Array.from({ length: Math.floor(r() * 12) }, () => "abc"[Math.floor(r() * 3)]);
    const a = mk(), b = mk();
    const runs = changedRuns(a, b);
    const out: string[] = [];
    let at = 0;
    for (const [af, aT, bf, bT] of runs) { out.push(...a.slice(at, af), ...b.slice(bf, bT)); at = aT; }
    out.push(...a.slice(at));
    assert.deepEqual(out, b, `${a.join("")} → ${b.join("")}: ${JSON.stringify(runs)}`);
    // Shortest: as many edits as the lengths less twice a longest common subsequence.
    const lcs = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
    for (let x = 1; x <= a.length; x++) for (let y = 1; y <= b.length; y++) lcs[x][y] = a[x - 1] === b[y - 1] ? lcs[x - 1][y - 1] + 1 : Math.max(lcs[x - 1][y], lcs[x][y - 1]);
    const cost = runs.reduce((n, [af, aT, bf, bT]) => n + (aT - af) + (bT - bf), 0);
    assert.equal(cost, a.length + b.length - 2 * lcs[a.length][b.length]);
  }
});

test("a page downloading says how many of its changes are here", () => {
  const peer = { peer: "p", name: "", node: true, holds_our_heads: false, changes_to_send: 0, has_changes_for_us: true };
  const o = (peers: object[], waiting = 0) => ({ id: "x", title: "", status: "Syncing…", peers, changes_waiting_for_parents: waiting }) as never;
  assert.equal(downloadNote(o([{ ...peer, changes_to_receive: 40, have: 60, total: 100 }]), 7), "Still downloading: 60 of 100 changes. It can be edited once it has arrived.");
  assert.equal(downloadNote(o([{ ...peer, changes_to_receive: 40 }]), 7), "Still downloading: 7 of 47 changes. It can be edited once it has arrived.");
  assert.equal(downloadNote(o([], 3), 7), "Still downloading: 7 of 7 changes. It can be edited once it has arrived.");
  assert.equal(downloadNote(o([{ ...peer, has_changes_for_us: false }]), 7), null, "synced: editable");
  assert.equal(downloadNote(undefined, 7), null);
});

test("changedRuns of two long lines that share nothing is one replacement, quickly", () => {
  const a = Array.from({ length: 20000 }, (_, i) => String.fromCharCode(0x4e00 + (i % 5000)));
  const b = Array.from({ length: 20000 }, (_, i) => String.fromCharCode(0xac00 + (i % 5000)));
  const t = Date.now();
  assert.deepEqual(changedRuns(a, b), [[0, 20000, 0, 20000]]);
  assert.ok(Date.now() - t < 2000, "bounded");
});

// Two remote changes in a row on a page nobody types on: their loads are
// made one after the other, so the newer is what stays shown (answered
// out of order, the older was left on screen for good).
test("remote changes in a row: the newest stays shown", async () => {
  const dev = fakeDevice([{ id: "1@a", type: "paragraph", text: "Hello" }]);
  let state = EditorState.create({ doc: toDoc(dev.page) });
  const view = { get state() { return state; }, dispatch(tr: import("prosemirror-state").Transaction) { state = state.apply(tr); } };
  const gates: (() => void)[] = [];
  const slow: Transport = {
    edit: dev.net.edit,
    async load() {
      const answer = await dev.net.load(); // the page as it is now
      await new Promise<void>((ok) => gates.push(ok)); // answered when the test says
      return answer;
    },
  };
  const sync = new PageSync("p", view, slow, 1_000_000);
  sync.base = ["v1"];
  const h1 = dev.remote([{ id: "1@a", type: "paragraph", text: "Hello from the lap" }]);
  const first = sync.remote([h1]);
  const h2 = dev.remote([{ id: "1@a", type: "paragraph", text: "Hello from the laptop" }]);
  const second = sync.remote([h2]);
  while (gates.length < 1) await new Promise((ok) => setTimeout(ok, 1));
  gates.shift()!(); // the first load answers (the older page)
  await first;
  while (gates.length < 1) await new Promise((ok) => setTimeout(ok, 1));
  gates.shift()!();
  await second;
  for (let i = 0; i < 50 && state.doc.child(0).textContent !== "Hello from the laptop"; i++) {
    if (gates.length) gates.shift()!();
    await new Promise((ok) => setTimeout(ok, 1));
  }
  assert.equal(state.doc.child(0).textContent, "Hello from the laptop");
  assert.ok(await sync.settle());
});
