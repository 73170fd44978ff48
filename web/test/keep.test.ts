// Keeping files offline: the toggles show the device's answer as it is
// (kept by itself, with the whole vault, not at all), and the page's note
// says how far its kept files are, counting each file once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { keepNote, pageToggle, vaultToggle, type FileRow } from "../src/keep.ts";

const id = "ab".repeat(32);

test("the page's toggle shows whether the device keeps the page", () => {
  assert.deepEqual({ ...pageToggle({ all: false, pages: [], object: id }), title: "" }, { checked: false, disabled: false, title: "" });
  assert.deepEqual({ ...pageToggle({ all: false, pages: [id], object: id, kept: true }), title: "" }, { checked: true, disabled: false, title: "" });
  // Kept with the whole vault: on, and not undone from the page (the
  // device would refuse it).
  const t = pageToggle({ all: true, pages: [], object: id, kept: true });
  assert.ok(t.checked && t.disabled, "kept by all: on and fixed");
  assert.match(t.title, /Devices & settings/);
  // What the device says, not what the page list holds: another page
  // kept leaves this one off.
  assert.equal(pageToggle({ all: false, pages: ["cd".repeat(32)], object: id }).checked, false);
});

test("the vault's toggle shows whether every file is kept", () => {
  assert.equal(vaultToggle({ all: true, pages: [] }).checked, true);
  assert.equal(vaultToggle({ all: false, pages: [id] }).checked, false);
  assert.match(vaultToggle({ all: false, pages: [id] }).title, /1 page is kept/);
});

const row = (file: string, size: number, here: number, extra: Partial<FileRow> = {}): FileRow =>
  ({ file_id: file.repeat(64), block: "1@" + file, size, bytes_here: here, complete: here === size, ...extra });

test("the note says how far the kept files are", () => {
  assert.deepEqual(keepNote(false, [row("a", 10, 0)]), { text: "", downloading: false }, "not kept: no note");
  assert.equal(keepNote(true, []).text, "Kept offline: no files in this page yet");
  const down = keepNote(true, [row("a", 2_000_000, 2_000_000), row("b", 40_000_000, 10_000_000), row("c", 5, 0)]);
  assert.deepEqual(down, { text: "Downloading to keep offline: 1 of 3 files here (12.0 MB of 42.0 MB)", downloading: true });
  assert.deepEqual(keepNote(true, [row("a", 10, 10)]), { text: "Kept offline: its file is on this device", downloading: false });
  // A file twice in the page counts once; a damaged block not at all.
  const twice = keepNote(true, [row("a", 10, 10), row("a", 10, 10, { block: "2@a" }), row("b", 7, 7), { block: "3@x", size: 0, bytes_here: 0, complete: false, error: "damaged" }]);
  assert.deepEqual(twice, { text: "Kept offline: all 2 files are on this device", downloading: false });
  // More here than the file's size (a device's count of a chunk shared
  // with another file) never reads as more than the whole.
  assert.equal(keepNote(true, [row("a", 10, 0, { bytes_here: 20 }), row("b", 10, 0)]).text, "Downloading to keep offline: 0 of 2 files here (10 B of 20 B)");
});
