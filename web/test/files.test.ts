// Files in the editor without a browser: a file block's manifest read as
// the engine writes it, and no data loss: every edit of a page through the
// editor (typing around file blocks, into their captions, the keys that
// join, split and retype blocks, moves, remote changes, the sync to the
// device) keeps the file blocks and their attributes exactly, and blocks
// of types the editor does not know too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { baseKeymap, chainCommands } from "prosemirror-commands";
import { EditorState, NodeSelection, TextSelection, type Command, type Transaction } from "prosemirror-state";
import { indent, moveBlock, setType } from "../src/blocks.ts";
import { fromDoc, toDoc, type ApiBlock } from "../src/convert.ts";
import { editorKeys } from "../src/editor.ts";
import { bytes, displaySize, fileInfo, guardFileBlock, shownAsImage } from "../src/files.ts";
import { pastedAttrs } from "../src/schema.ts";
import { PageSync, reconcile, type DocAnswer, type Transport } from "../src/sync.ts";

const fixture = JSON.parse(readFileSync(process.cwd() + "/test/manifest.fixture.json", "utf8")) as
  { attr: string; id: string; name: string; type: string; size: number };

test("a file block's manifest reads as the engine wrote it (the fixture its Go test checks)", () => {
  assert.deepEqual(fileInfo(fixture.attr), { id: fixture.id, name: fixture.name, type: fixture.type, size: fixture.size });
  for (const bad of ["", "!!!", fixture.attr.slice(0, 20), "AAAA"]) assert.equal(fileInfo(bad), null, bad);
});

test("what is shown inline, sizes said and read", () => {
  const f = { id: "x", name: "a", size: 1, type: "image/png" };
  assert.ok(shownAsImage(f));
  assert.ok(!shownAsImage({ ...f, type: "image/svg+xml" }), "SVG could run script: a download");
  assert.ok(!shownAsImage({ ...f, type: "text/html" }));
  assert.equal(bytes(999), "999 B");
  assert.equal(bytes(1_234_567), "1.2 MB");
  assert.deepEqual(displaySize("200x100"), { width: 200, height: 100 });
  assert.deepEqual(displaySize("200"), { width: 200 });
  assert.equal(displaySize("wide"), null);
});

const image = { id: "2@a", type: "file", attrs: { file: fixture.attr, size: "200" }, text: "" };
const pdf = { id: "4@a", type: "file", attrs: { file: fixture.attr + "", extra: "kept" }, text: "the caption" };
const future = { id: "5@a", type: "hologram", attrs: { beam: "3", "x-new": "yes" }, text: "from a newer mycel", children: [{ id: "6@a", type: "paragraph", text: "inside" }] };
const page: ApiBlock[] = [
  { id: "1@a", type: "paragraph", text: "before" },
  image,
  { id: "3@a", type: "paragraph", text: "between" },
  pdf,
  future,
  { id: "7@a", type: "paragraph", text: "after" },
];

// state is the page with the cursor at code unit k of the line reading text.
function state(blocks: ApiBlock[], text: string, k = 0): EditorState {
  const s = EditorState.create({ doc: toDoc(blocks) });
  let at = -1;
  s.doc.descendants((n, pos) => {
    if (at < 0 && n.type.name === "line" && n.textContent === text) at = pos + 1 + k;
    return at < 0;
  });
  assert.ok(at >= 0, "no line " + text);
  return s.apply(s.tr.setSelection(TextSelection.create(s.doc, at)));
}

function run(s: EditorState, c: Command): EditorState {
  let out = s;
  assert.ok(c(s, (tr) => { out = s.apply(tr); }), "the command applies");
  return out;
}

// kept checks that blocks holds every file block and unknown block of
// page, by id, with the same type and attributes.
function kept(blocks: ApiBlock[], what: string) {
  const all = new Map<string, ApiBlock>();
  const walk = (bs: ApiBlock[]) => { for (const b of bs) { all.set(b.id, b); walk(b.children || []); } };
  walk(blocks);
  for (const want of [image, pdf, future]) {
    const got = all.get(want.id);
    assert.ok(got, `${what}: block ${want.id} (${want.type}) is gone`);
    assert.equal(got.type, want.type, what);
    assert.deepEqual(got.attrs, want.attrs, what);
  }
}

// A key as the editor has it: its own binding, then ProseMirror's base.
const keys = editorKeys(() => "p");
const press = (k: string): Command => chainCommands(keys[k] || (() => false), baseKeymap[k] || (() => false));
const backspace = press("Backspace"), del = press("Delete"), enter = press("Enter");

test("the page survives the editor both ways: file blocks and blocks of unknown types, attributes and all", () => {
  assert.deepEqual(fromDoc(toDoc(page)), page);
});

test("typing around file blocks and into their captions keeps them", () => {
  let s = state(page, "between", 7);
  s = s.apply(s.tr.insertText(", typed"));
  s = s.apply(s.tr.insertText("a caption", 1 + s.doc.child(0).nodeSize + 1)); // into the image's empty caption
  const out = fromDoc(s.doc);
  kept(out, "typing");
  assert.equal(out[1].text, "a caption");
  assert.equal(out[2].text, "between, typed");
});

test("Backspace and Delete next to a file block select it instead of joining it away; a second key deletes it", () => {
  // At the start of the image's caption.
  let s = run(state(page, "between"), (st, d) => { d!(st.tr.setSelection(TextSelection.create(st.doc, 1 + st.doc.child(0).nodeSize + 1))); return true; });
  s = run(s, backspace);
  assert.ok(s.selection instanceof NodeSelection && s.selection.node.attrs.id === "2@a");
  kept(fromDoc(s.doc), "Backspace in a caption");
  // At the start of the block after it.
  s = run(state(page, "between"), backspace);
  assert.ok(s.selection instanceof NodeSelection && s.selection.node.attrs.id === "2@a");
  kept(fromDoc(s.doc), "Backspace after a file");
  // Delete at the end of the block before one.
  s = run(state(page, "before", 6), del);
  assert.ok(s.selection instanceof NodeSelection && s.selection.node.attrs.id === "2@a");
  kept(fromDoc(s.doc), "Delete before a file");
  // The selected file is deleted by the next key, as meant.
  s = s.apply(s.tr.deleteSelection());
  assert.ok(!fromDoc(s.doc).some((b) => b.id === "2@a"));
  // An empty block after a file goes, the file stays.
  const withEmpty = [page[0], { ...image, text: "img" }, { id: "9@a", type: "paragraph", text: "" }, ...page.slice(2)];
  s = run(state(withEmpty, "", 0), backspace);
  kept(fromDoc(s.doc), "Backspace in an empty block after a file");
  assert.ok(!fromDoc(s.doc).some((b) => b.id === "9@a"));
  // Elsewhere the keys are the editor's as before.
  assert.equal(guardFileBlock(-1)(state(page, "between", 3), undefined), false);
  assert.equal(guardFileBlock(1)(state(page, "before", 2), undefined), false);
  for (const k of ["Mod-Backspace", "Shift-Backspace", "Mod-Delete"]) assert.ok(keys[k], k);
});

test("Enter in a caption leaves the caption whole; retyping a file block is refused", () => {
  let s = state(page, "the caption", 3);
  s = run(s, enter);
  let out = fromDoc(s.doc);
  kept(out, "Enter in a caption");
  assert.equal(out[3].text, "the caption");
  assert.equal(out[4].type, "paragraph");
  assert.equal(s.selection.$from.parent.textContent, "", "the cursor in the new paragraph");
  s = run(state(page, "the caption", 0), enter);
  out = fromDoc(s.doc);
  assert.deepEqual(out.slice(3, 5).map((b) => b.type + ":" + b.text), ["paragraph:", "file:the caption"]);
  assert.equal(setType("heading1")(state(page, "the caption", 2), undefined), false);
  kept(fromDoc(state(page, "the caption").doc), "retype");
});

test("moves and nesting keep a file block's attributes", () => {
  let s = state(page, "the caption", 2);
  s = run(s, moveBlock(-1));
  s = run(s, moveBlock(-1));
  s = run(s, indent);
  const out = fromDoc(s.doc);
  kept(out, "moves");
  assert.equal(out[0].children?.[0].id, "4@a", "nested under the first block");
});

test("remote changes around file blocks keep them, and set their attributes as the device says", () => {
  let s = state(page, "after", 2);
  const remote = structuredClone(page);
  remote[0].text = "before, typed elsewhere";
  remote[3].text = "the caption, edited";
  const tr = reconcile(s, toDoc(remote))!;
  s = s.apply(tr);
  kept(fromDoc(s.doc), "remote");
  remote[1].attrs = { ...image.attrs, size: "300" };
  s = s.apply(reconcile(s, toDoc(remote))!);
  assert.deepEqual(fromDoc(s.doc)[1].attrs, { file: fixture.attr, size: "300" });
});

test("a file block pasted keeps its file; one pasted without it is text", () => {
  const el = (d: Record<string, string>) => ({ dataset: d }) as unknown as HTMLElement;
  assert.deepEqual(pastedAttrs(el({ type: "file", file: fixture.attr, size: "20" })), { type: "file", attrs: { file: fixture.attr, size: "20" } });
  assert.deepEqual(pastedAttrs(el({ type: "file" })), { type: "paragraph" });
  assert.deepEqual(pastedAttrs(el({ type: "file", file: "<script>" })), { type: "paragraph" });
  assert.deepEqual(pastedAttrs(el({ type: "quote" })), { type: "quote" });
});

test("every edit the editor sends holds the file blocks and unknown blocks exactly", async () => {
  const sent: ApiBlock[][] = [];
  let heads = 1;
  const net: Transport = {
    async load(): Promise<DocAnswer> { return { id: "p", heads: ["v" + heads], details: {}, blocks: page }; },
    async edit(_id, _base, blocks): Promise<DocAnswer> {
      sent.push(structuredClone(blocks));
      return { id: "p", heads: ["v" + ++heads], version: ["v" + heads], details: {}, blocks: null, same: true, new_ids: [] };
    },
  };
  let s = state(page, "after", 5);
  const view = { get state() { return s; }, dispatch(tr: Transaction) { s = s.apply(tr); } };
  const sync = new PageSync("p", view, net, 0);
  sync.base = ["v1"];
  for (const ch of " and more") { view.dispatch(s.tr.insertText(ch)); sync.changed(); await sync.flush(); }
  view.dispatch(s.tr.setSelection(TextSelection.create(s.doc, 1 + s.doc.child(0).nodeSize + 1)));
  for (const ch of "caption") { view.dispatch(s.tr.insertText(ch)); sync.changed(); await sync.flush(); }
  assert.ok(await sync.settle());
  assert.ok(sent.length >= 2);
  for (const b of sent) kept(b, "an edit sent");
  assert.equal(sent[sent.length - 1][1].text, "caption");
  assert.equal(sent[sent.length - 1][5].text, "after and more");
});

test("marks of types the editor does not know are kept as they came, through typing and remote changes", () => {
  const blocks: ApiBlock[] = [
    { id: "1@a", type: "paragraph", text: "sparkling glow", marks: [{ start: 0, end: 4, type: "bold" }, { start: 0, end: 9, type: "sparkle" }, { start: 5, end: 14, type: "glow", value: "#f0f" }] },
    { id: "2@a", type: "paragraph", text: "plain" },
  ];
  assert.deepEqual(fromDoc(toDoc(blocks)), blocks);
  let s = state(blocks, "plain", 5);
  s = s.apply(s.tr.insertText(" typed"));
  s = s.apply(s.tr.insertText("!", 2 + 14)); // at the end of the first line: no mark goes on (not inclusive)
  const out = fromDoc(s.doc);
  assert.deepEqual(out[0].marks, blocks[0].marks);
  assert.equal(out[0].text, "sparkling glow!");
  const remote = structuredClone(blocks);
  remote[0].marks = [{ start: 0, end: 3, type: "sparkle" }, { start: 0, end: 4, type: "bold" }, { start: 5, end: 14, type: "glow", value: "#f0f" }];
  s = s.apply(reconcile(s, toDoc(remote))!);
  assert.deepEqual(fromDoc(s.doc)[0].marks, remote[0].marks);
});
