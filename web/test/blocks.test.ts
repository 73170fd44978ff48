// The block commands (blocks.ts) and the pickers' trigger (picker.ts) on
// editor states, without a browser.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EditorState, TextSelection, type Command } from "prosemirror-state";
import { caretBlock, indent, moveBlock, nextCell, outdent, setType } from "../src/blocks.ts";
import { fromDoc, toDoc, type ApiBlock } from "../src/convert.ts";
import { trigger } from "../src/picker.ts";
import { giveIds, reconcile, tagNew } from "../src/sync.ts";
import { history, undo } from "prosemirror-history";

// state is a page of blocks with the cursor at code unit k of the line
// whose text is text.
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
  let out = s; // a command may take the key and change nothing
  assert.ok(c(s, (tr) => { out = s.apply(tr); }), "the command applies");
  return out;
}

// outline is the blocks as "id:text", children indented.
function outline(bs: ApiBlock[], depth = 0): string[] {
  return bs.flatMap((b) => ["  ".repeat(depth) + b.id + ":" + b.text, ...outline(b.children || [], depth + 1)]);
}

// cursorText is the line the cursor is in and its offset there.
function cursor(s: EditorState): string {
  const $f = s.selection.$from;
  return $f.parent.textContent + "@" + $f.parentOffset;
}

const three: ApiBlock[] = [
  { id: "1@a", type: "paragraph", text: "one" },
  { id: "2@a", type: "todo", attrs: { checked: "true" }, text: "two" },
  { id: "3@a", type: "paragraph", text: "three" },
];

test("Tab nests a block under the one before, Shift-Tab takes it out: the same block, its id, attributes and the cursor kept", () => {
  let s = run(state(three, "two", 2), indent);
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:one", "  2@a:two", "3@a:three"]);
  assert.deepEqual(fromDoc(s.doc)[0].children![0].attrs, { checked: "true" });
  assert.equal(cursor(s), "two@2");
  s = run(s, outdent);
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:one", "2@a:two", "3@a:three"]);
  assert.equal(cursor(s), "two@2");
  // The first block has none before it; a top-level one has no parent.
  assert.equal(indent(state(three, "one"), undefined), false);
  assert.equal(outdent(state(three, "one"), undefined), false);
});

test("Shift-Tab leaves the blocks after it in the parent", () => {
  const nested: ApiBlock[] = [{ id: "1@a", type: "paragraph", text: "p", children: [
    { id: "2@a", type: "paragraph", text: "a" }, { id: "3@a", type: "paragraph", text: "b" }] }];
  const s = run(state(nested, "a"), outdent);
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:p", "  3@a:b", "2@a:a"]);
});

test("Alt-arrows move a block with its children among its siblings, keeping its id and the cursor", () => {
  const withKid: ApiBlock[] = [...three.slice(0, 2), { id: "3@a", type: "paragraph", text: "three", children: [{ id: "4@a", type: "paragraph", text: "kid" }] }];
  let s = run(state(withKid, "three", 3), moveBlock(-1));
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:one", "3@a:three", "  4@a:kid", "2@a:two"]);
  assert.equal(cursor(s), "three@3");
  s = run(s, moveBlock(-1));
  assert.deepEqual(outline(fromDoc(s.doc)), ["3@a:three", "  4@a:kid", "1@a:one", "2@a:two"]);
  assert.equal(moveBlock(-1)(s, undefined), false, "the first goes no higher");
  s = run(s, moveBlock(1));
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:one", "3@a:three", "  4@a:kid", "2@a:two"]);
  assert.equal(cursor(s), "three@3");
  // A child moves among its parent's children only (not above its line).
  assert.equal(moveBlock(-1)(state(withKid, "kid"), undefined), false);
});

test("/table in an empty paragraph puts the table there, elsewhere after the block; the cursor in the first cell", () => {
  const blank: ApiBlock[] = [{ id: "1@a", type: "paragraph", text: "intro" }, { id: "", type: "paragraph", text: "" }];
  let s = run(state(blank, ""), setType("table"));
  let bs = fromDoc(s.doc);
  assert.deepEqual(bs.map((b) => b.type), ["paragraph", "table"]);
  assert.deepEqual(bs[1].children!.map((c) => c.type), ["column", "column", "row", "row"]);
  assert.deepEqual(bs[1].children![2].children!.map((c) => c.attrs), [{ col: "#0" }, { col: "#1" }]);
  s = s.apply(s.tr.insertText("h1"));
  assert.equal(fromDoc(s.doc)[1].children![2].children![0].text, "h1");
  s = run(state(three, "one", 1), setType("table"));
  bs = fromDoc(s.doc);
  assert.deepEqual(bs.map((b) => b.type), ["paragraph", "table", "todo", "paragraph"]);
  assert.equal(s.selection.$from.node(s.selection.$from.depth - 1).attrs.type, "cell");
});

test("Tab, Shift-Tab and Alt-arrows leave a table's cells in place", () => {
  const s = run(state([{ id: "", type: "paragraph", text: "" }], ""), setType("table"));
  const second = s.apply(s.tr.setSelection(TextSelection.create(s.doc, s.selection.from + 4))); // the next cell's line
  assert.equal(second.selection.$from.node(second.selection.$from.depth - 1).attrs.type, "cell");
  for (const c of [indent, outdent, moveBlock(-1), moveBlock(1)]) assert.equal(c(second, undefined), false);
});

test("Tab and Shift-Tab in a cell go to the end of the next and previous cell, and stay at the table's ends", () => {
  let s = run(state([{ id: "", type: "paragraph", text: "" }], ""), setType("table"));
  s = s.apply(s.tr.insertText("a"));
  s = run(s, nextCell(1));
  s = s.apply(s.tr.insertText("b"));
  s = run(s, nextCell(1));
  s = run(s, nextCell(-1));
  s = s.apply(s.tr.insertText("+"));
  s = run(run(run(s, nextCell(1)), nextCell(1)), nextCell(1));
  s = s.apply(s.tr.insertText("d"));
  s = run(s, nextCell(1)); // the last: stays
  s = s.apply(s.tr.insertText("!"));
  const rows = fromDoc(s.doc)[0].children!.filter((c) => c.type === "row").map((r) => r.children!.map((c) => c.text));
  assert.deepEqual(rows, [["a", "b+"], ["", "d!"]]);
  assert.equal(nextCell(1)(state(three, "one"), undefined), false, "not in a table");
});

test("caretBlock is the top-level block around the cursor, nested or not", () => {
  const nested: ApiBlock[] = [{ id: "1@a", type: "paragraph", text: "p", children: [{ id: "2@a", type: "paragraph", text: "a" }] }, three[2]];
  const s = state(nested, "a");
  assert.deepEqual(caretBlock(s), { from: 0, to: s.doc.child(0).nodeSize });
  const t = state(nested, "three");
  assert.deepEqual(caretBlock(t), { from: t.doc.child(0).nodeSize, to: t.doc.content.size });
});

// at is a state whose one line is text, the cursor at its end.
function at(text: string) { return state([{ id: "", type: "paragraph", text }], text, text.length); }

test("the pickers' triggers: / at the start of a word, [[ anywhere, @ at the start of a word", () => {
  assert.deepEqual(trigger(at("/head")), { kind: "slash", from: 2, query: "head" });
  assert.deepEqual(trigger(at("see /bul")), { kind: "slash", from: 6, query: "bul" });
  assert.equal(trigger(at("a/b")), null, "/ inside a word");
  assert.equal(trigger(at("/two  spaces")), null);
  assert.deepEqual(trigger(at("see [[mention tar")), { kind: "mention", from: 6, query: "mention tar" });
  assert.deepEqual(trigger(at("and @wombat")), { kind: "mention", from: 6, query: "wombat" });
  assert.equal(trigger(at("mail a@b")), null, "@ inside a word");
  assert.equal(trigger(at("done [[x]]")), null, "a closed [[…]]");
  assert.equal(trigger(at("")), null);
});

// Undo never takes back what another device typed or named: a move is not
// undone by Ctrl-Z (its undo would put back a copy of the block without the
// remote typing), and undoing a change of type puts back the type alone
// (not the id the device gave the block since).
test("undo keeps remote typing in a moved block, and ids given since", () => {
  const withHistory = (s: EditorState) => EditorState.create({ doc: s.doc, selection: s.selection, plugins: [history()] });
  let s = withHistory(state([{ id: "1@a", type: "paragraph", text: "one" }, { id: "2@a", type: "paragraph", text: "two" }], "one", 1));
  s = run(s, moveBlock(1));
  const remote = reconcile(s, toDoc([{ id: "2@a", type: "paragraph", text: "two" }, { id: "1@a", type: "paragraph", text: "one typed elsewhere" }]))!;
  s = s.apply(remote);
  undo(s, (tr) => { s = s.apply(tr); });
  assert.deepEqual(fromDoc(s.doc).map((b) => b.text).sort(), ["one typed elsewhere", "two"], "the remote typing is kept");

  let t = withHistory(state([{ id: "", type: "paragraph", text: "new" }], "new", 0));
  t = run(t, setType("heading1"));
  const tagged = t.apply(tagNew(t)!);
  t = tagged.apply(giveIds(tagged, new Map([[tagged.doc.child(0).attrs.tmp as string, "9@b"]]))!);
  undo(t, (tr) => { t = t.apply(tr); });
  const b = fromDoc(t.doc)[0];
  assert.equal(b.type, "paragraph", "the type is undone");
  assert.equal(b.id, "9@b", "the id the device gave stays");
});

test("Backspace at the start of a block joins its text to the line above, its children keeping their depth", async () => {
  const { joinUp } = await import("../src/blocks.ts");
  const page: ApiBlock[] = [
    { id: "1@a", type: "paragraph", text: "first", children: [{ id: "2@a", type: "paragraph", text: "nested" }] },
    { id: "3@a", type: "paragraph", text: "second", children: [{ id: "4@a", type: "bulleted", text: "child" }] },
    { id: "5@a", type: "divider", text: "" },
    { id: "6@a", type: "paragraph", text: "after the divider" },
  ];
  // Onto the last line above (a nested block's); its children keep their
  // depth on the page.
  let s = run(state(page, "second"), joinUp);
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:first", "  2@a:nestedsecond", "  4@a:child", "5@a:", "6@a:after the divider"]);
  assert.equal(cursor(s), "nestedsecond@6");
  // A first child joins its parent's line.
  s = run(state(page, "nested"), joinUp);
  assert.deepEqual(outline(fromDoc(s.doc)).slice(0, 1), ["1@a:firstnested"]);
  // An empty line goes.
  s = run(state([{ id: "1@a", type: "paragraph", text: "x" }, { id: "2@a", type: "paragraph", text: "" }], ""), joinUp);
  assert.deepEqual(outline(fromDoc(s.doc)), ["1@a:x"]);
  // Not onto a divider, not from the first line.
  assert.equal(joinUp(state(page, "after the divider"), () => {}), false);
  assert.equal(joinUp(state(page, "first"), () => {}), false);
});
