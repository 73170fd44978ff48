// The mapping between the editor and mycel's blocks, and the sync of an
// open page under concurrent edits, against a fake device that merges the
// way mycel's does (each edit is its difference from its base, applied on
// top of what came since: here, blocks by id, text by common prefix and
// suffix).
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState, TextSelection } from "prosemirror-state";
import { fromDoc, toDoc, type ApiBlock } from "../src/convert.ts";
import { PageSync, reconcile, type DocAnswer, type Transport } from "../src/sync.ts";

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
        const sentVersion = put(blocks);
        head = put(merged);
        const a = { id: "p", heads: [head], version: [sentVersion], details: {}, blocks: merged, merged: base[0] !== head };
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
  const anchor = base.slice(0, s);
  const p = theirs.startsWith(anchor) ? s : theirs.length;
  return theirs.slice(0, p) + inserted + theirs.slice(p + (base.length - e - s));
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

test("a code block keeps its line breaks through the editor", () => {
  const code: ApiBlock[] = [{ id: "1@a", type: "code", attrs: { language: "go" }, text: "a := 1\n\tb  := 2\n" }];
  assert.deepEqual(fromDoc(toDoc(code)), code);
});
