// Sync control: the page's toggle shows the device's answer (syncing or
// kept to this device), and the mode note says what is in force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { modeNote, modes, pageSyncToggle } from "../src/syncctl.ts";

const id = "ab".repeat(32);

test("the page's toggle is on while the page syncs, off once kept to this device", () => {
  assert.equal(pageSyncToggle({ mode: "all", sync_off: [], object: id }).checked, true);
  const off = pageSyncToggle({ mode: "all", sync_off: [id], object: id, off: true });
  assert.equal(off.checked, false);
  assert.match(off.title, /stay on this device/);
});

test("the mode note says what is in force, and when the running device narrows it", () => {
  assert.equal(modeNote("all", "all"), "In force now: all.");
  assert.match(modeNote("all", "lan-only (--lan-only)"), /as 'mycel up' was started/);
  assert.match(modeNote("node-only", undefined), /not running/);
  assert.deepEqual(modes.map(([m]) => m), ["all", "lan-only", "node-only", "local-only"]);
});
