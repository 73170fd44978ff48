// The page's peers popover: each peer by name says whether it holds this
// version and since when, what is pending each way, and when last seen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { peerFacts, sizeText } from "../src/panels.ts";

const base = { peer: "12D3KooWx", name: "phone", node: false, holds_our_heads: false, changes_to_send: 0, has_changes_for_us: false };

test("a device away that lacks this version: its word, what it lacks, when last seen", () => {
  const f = peerFacts({ ...base, holds: "no", connected: false, changes_to_send: 2, bytes_to_send: 1500, last_seen: "2026-01-02T10:00:00Z" }, "2026-01-02T09:00:00Z");
  assert.match(f[0], /^does not hold this version yet \(as it said at /);
  assert.equal(f[1], "2 changes (1.5 kB) to send it");
  assert.match(f[2], /^last seen /);
});

test("a node that holds it says since when; a download says n of m", () => {
  const f = peerFacts({ ...base, name: "the node", node: true, holds: "yes", holds_our_heads: true, connected: true, has_changes_for_us: true, changes_to_receive: 3, have: 7, total: 10 }, "2026-01-02T09:00:00Z");
  assert.match(f[0], /^holds this version \(since /);
  assert.equal(f[1], "3 changes to receive from it (7 of 10 here)");
  assert.equal(f[2], "connected");
});

test("a device met only through the node: not known; failures are said", () => {
  const f = peerFacts({ ...base, holds: "unknown", failure: "a change from it was refused" }, undefined); // connected: false is left out
  assert.deepEqual(f, ["not known to hold this version", "last seen never", "a change from it was refused"]);
  assert.equal(sizeText(710), "710 B");
  assert.equal(sizeText(2_000_000), "2 MB");
});
