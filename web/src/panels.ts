// The panels around the editor: the page's sync status with every peer
// (the badge's popover), the vault's status bar with the initial sync's
// progress, the page's history (versions, a version against now, restore
// and its undo), and devices and settings (backup nodes added and
// removed, diagnostics).
import { api, time, type DeviceRow, type NodeState, type ObjectStatus, type Peer, type Status, type Version, type VersionView } from "./api.ts";

const $ = (id: string) => document.getElementById(id)!;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// holding remembers since when each peer is seen holding this page's
// version (the device does not say, so this is since this app saw it).
const holding = new Map<string, number>();

function nodeOf(s: Status, peer: string): NodeState | undefined {
  return (s.nodes || []).find((n) => n.addr.endsWith("/p2p/" + peer));
}

/** sizeText is a byte count as people read it: "710 B", "1.2 MB". */
export function sizeText(n: number): string {
  for (const [u, name] of [[1e9, "GB"], [1e6, "MB"], [1e3, "kB"]] as const) if (n >= u) return (n / u).toFixed(1).replace(/\.0$/, "") + " " + name;
  return n + " B";
}

/** peerFacts is what the popover says of one peer of a page: whether it holds this version and since when, what is
 * pending each way, connected or when last seen, and why sync with it fails. */
export function peerFacts(p: Peer, since: string | undefined): string[] {
  const facts: string[] = [];
  const holds = p.holds || (p.holds_our_heads ? "yes" : "no");
  if (holds === "yes") facts.push("holds this version" + (since ? " (since " + time(since) + ")" : ""));
  else if (holds === "unknown") facts.push("not known to hold this version");
  else facts.push("does not hold this version yet" + (since ? " (as it said at " + time(since) + ")" : ""));
  if (p.changes_to_send) facts.push(p.changes_to_send + (p.changes_to_send === 1 ? " change" : " changes") + (p.bytes_to_send ? " (" + sizeText(p.bytes_to_send) + ")" : "") + " to send it");
  if (p.has_changes_for_us) {
    const n = p.changes_to_receive || 0;
    facts.push((n ? n + (n === 1 ? " change" : " changes") : "changes") + " to receive from it" + (p.total ? " (" + (p.have || 0) + " of " + p.total + " here)" : ""));
  }
  facts.push(p.connected ? "connected" : "last seen " + time(p.last_seen)); // false is left out of the JSON
  if (p.failure) facts.push(p.failure);
  return facts;
}

/** showPeers fills the badge's popover: every peer of the page by name. */
export function showPeers(s: Status, o: ObjectStatus | undefined) {
  const ul = $("peers-list");
  ul.replaceChildren();
  const seen = new Set<string>();
  for (const p of o ? o.peers : []) {
    const key = (o ? o.id : "") + "/" + p.peer;
    if (p.holds_our_heads) { if (!holding.has(key)) holding.set(key, Date.now()); } else holding.delete(key);
    const li = el("li");
    li.dataset.kind = p.node ? "node" : "device";
    const n = p.node ? nodeOf(s, p.peer) : undefined;
    if (n) seen.add(n.addr);
    if (p.addr) seen.add(p.addr);
    li.append(el("strong", p.node ? "Backup node" + (p.name && p.name !== "the node" ? " (" + p.name.replace(/^node /, "") + ")" : "") : p.name || "Device …" + p.peer.slice(-6)));
    // Since: the device's word (persisted); else since this app saw it.
    const since = p.since || (p.holds_our_heads ? new Date(holding.get(key)!).toISOString() : undefined);
    const facts = peerFacts(p, since);
    if (n && !p.failure) {
      if (n.refused) facts.push("refused: " + n.refused);
      else if (n.last_error && !n.connected) facts.push("last error: " + n.last_error);
    }
    li.append(el("span", " · " + facts.join(" · ")));
    ul.append(li);
  }
  // Nodes this page has not been exchanged with yet (unreachable, say).
  for (const n of s.nodes || []) {
    if (seen.has(n.addr)) continue;
    const li = el("li");
    li.dataset.kind = "node";
    li.append(el("strong", "Backup node"), el("span", " · " + n.addr.replace(/\/p2p\/.*/, "") + " · " + (n.connected ? "connected" : "not connected") +
      " · last seen " + time(n.last_seen) + (n.refused ? " · refused: " + n.refused : n.last_error ? " · last error: " + n.last_error : "")));
    ul.append(li);
  }
  if (!ul.childElementCount) ul.append(el("li", "No peer yet: add a backup node in Devices & settings, or start mycel on another device of this vault on this network."));
  $("peers-reason").textContent = o && o.reason ? o.reason : s.reason || "";
}

// Progress of the initial sync, from the status polls: what is left to
// receive, and its rate for an estimate of the time left.
let firstLeft = 0, lastLeft = 0, lastAt = 0, rate = 0;

/** showVault fills the status bar. */
export function showVault(s: Status) {
  $("vault-label").textContent = s.status || "";
  $("vault-label").dataset.status = s.status || "";
  $("vault-dir").textContent = s.data_dir;
  $("vault-mode").textContent = s.mode ? "sync: " + s.mode : "";
  // Why it fails, and where the vault is ("on the node as of 12:04; phone has 3 pages to fetch").
  $("vault-reason").textContent = [s.reason, s.summary].filter(Boolean).join(" · ");
  const objs = s.objects || [];
  let left = 0, incoming = 0;
  for (const o of objs) {
    let n = 0, any = false;
    for (const p of o.peers) { n = Math.max(n, p.changes_to_receive || 0); any = any || p.has_changes_for_us; }
    left += n;
    if (any || (o.changes_waiting_for_parents || 0) > 0) incoming++;
  }
  const bar = $("progress") as HTMLProgressElement;
  if (left === 0 && incoming === 0) {
    bar.hidden = true;
    $("progress-text").textContent = "";
    firstLeft = 0;
    return;
  }
  const now = Date.now();
  if (left > firstLeft) firstLeft = left;
  if (lastAt && left < lastLeft) rate = 0.7 * rate + 0.3 * ((lastLeft - left) / ((now - lastAt) / 1000));
  lastLeft = left;
  lastAt = now;
  bar.hidden = false;
  bar.max = Math.max(firstLeft, 1);
  bar.value = firstLeft - left;
  const eta = rate > 0 ? " · about " + Math.ceil(left / rate) + " s left" : "";
  $("progress-text").textContent = `objects ${objs.length - incoming} of ${objs.length} · changes ${firstLeft - left} of ${firstLeft}${eta}`;
}

/** History is the page's history panel. */
export class History {
  private versions: Version[] = [];
  private picked = 0; // the version shown
  private undoTo = ""; // the point that undoes the last restore
  constructor(private id: () => string | null, private beforeRestore: () => Promise<boolean>, private say: (m: string) => void) {
    $("history-btn").addEventListener("click", () => { const h = $("history"); h.hidden = !h.hidden; if (!h.hidden) void this.load(); });
    $("history-close").addEventListener("click", () => { $("history").hidden = true; });
    $("restore").addEventListener("click", () => void this.restore(this.picked, this.pointOf(this.picked), true));
    $("undo-restore").addEventListener("click", () => void this.restore(0, this.undoTo, false));
  }

  get open() { return !$("history").hidden; }

  reset() { $("history").hidden = true; this.picked = 0; this.undoTo = ""; $("undo-restore").hidden = true; }

  // pointOf is version n's last change as the list shows it: restoring by
  // it restores the version viewed, whatever its number has become.
  private pointOf(n: number): string { return this.versions.find((v) => v.version === n)?.point || ""; }

  async load() {
    const id = this.id();
    if (!id) return;
    this.versions = await api<Version[]>(`/v1/objects/${id}/history`);
    const ul = $("versions");
    ul.replaceChildren(...this.versions.map((v) => {
      const li = el("li", "", "version");
      li.dataset.point = String(v.version);
      li.tabIndex = 0;
      li.append(el("strong", "Version " + v.version), el("span", " · " + (v.device || "unknown device") + " · " + time(v.end) + " · " + v.changes + (v.changes === 1 ? " change" : " changes")));
      if (v.merged) li.append(el("span", " merged", "merged"));
      if (v.version === this.picked) li.setAttribute("aria-selected", "true");
      const pick = () => void this.view(v.version);
      li.addEventListener("click", pick);
      li.addEventListener("keydown", (ev) => { if (ev.key === "Enter") pick(); });
      return li;
    }));
  }

  private async view(n: number) {
    const id = this.id();
    if (!id) return;
    const v = await api<VersionView>(`/v1/objects/${id}/history/${n}`);
    this.picked = n;
    $("versions").querySelectorAll("li").forEach((li) => li.setAttribute("aria-selected", String((li as HTMLElement).dataset.point === String(n))));
    const box = $("version-view");
    box.replaceChildren(el("p", `Version ${n} against now: highlighted lines are only in version ${n}, struck ones only now.`, "legend"));
    const ops: Record<string, string> = { " ": "same", "-": "then", "+": "now" };
    for (const l of v.diff) {
      const op = String.fromCharCode(l.op);
      const line = el("div", l.text.replace(/\n$/, "") || "\u00a0", "dl " + (ops[op] || "same"));
      if (op === "-") line.title = "in version " + n + ", not now";
      if (op === "+") line.title = "now, not in version " + n;
      box.append(line);
    }
    ($("restore") as HTMLButtonElement).disabled = false;
    $("restore").textContent = "Restore version " + n;
  }

  private async restore(n: number, point: string, undoable: boolean) {
    const id = this.id();
    if (!id || !point) return;
    if (!(await this.beforeRestore())) { this.say("The last edits are not saved yet: try again in a moment"); return; }
    try {
      const r = await api<{ undo: string }>(`/v1/objects/${id}/restore`, { point });
      this.undoTo = undoable ? r.undo : "";
    } catch (e) {
      this.say("Not restored: " + (e as Error).message);
      return;
    }
    $("undo-restore").hidden = !undoable;
    if (undoable) $("undo-restore").textContent = "Undo restore";
    this.say(undoable ? "Restored version " + n + " as a new version" : "Restore undone");
    await this.load();
  }
}

/** Settings is the devices and settings panel. */
export class Settings {
  constructor(private say: (m: string) => void) {
    $("settings-btn").addEventListener("click", () => { const s = $("settings"); s.hidden = !s.hidden; if (!s.hidden) void this.load(); });
    $("settings-close").addEventListener("click", () => { $("settings").hidden = true; });
    $("node-form").addEventListener("submit", (ev) => { ev.preventDefault(); void this.addNode(); });
  }

  async load() {
    const [ds, ns] = await Promise.all([api<DeviceRow[]>("/v1/devices"), api<NodeState[]>("/v1/nodes")]);
    $("devices").replaceChildren(...ds.map((d) => {
      const li = el("li");
      const how = d.connected_via === "lan" ? " · connected now (local network)" : " · not connected directly";
      li.append(el("strong", d.name), el("span", (d.this_device ? " · this device" : "") + (d.removed ? " · removed" : "") +
        " · added " + time(d.added) + (d.this_device ? "" : " · last seen " + time(d.last_seen) + how)));
      if (!d.removed) {
        const rn = el("button", "Rename");
        rn.addEventListener("click", () => void this.renameDevice(d));
        li.append(" ", rn);
      }
      return li;
    }));
    $("nodes").replaceChildren(...ns.map((n) => {
      const li = el("li");
      const rm = el("button", "Remove");
      rm.addEventListener("click", () => void this.removeNode(n.addr));
      li.append(el("code", n.addr), el("span", " · " + (n.connected ? "connected" : "not connected") + " · last seen " + time(n.last_seen) +
        (n.refused ? " · refused: " + n.refused : n.last_error ? " · " + n.last_error : "")), rm);
      if (n.caught_pages) {
        // Caught showing less than it had confirmed: its pages stay Not
        // syncing until the user, knowing why, trusts it again.
        const caught = el("p", `Caught losing or hiding changes it had confirmed, on ${n.caught_pages === 1 ? "1 page" : n.caught_pages + " pages"} (${time(new Date(n.caught_at_ms!).toISOString())}). This device uploads them to it again. `);
        caught.className = "caught";
        const trust = el("button", "Trust again");
        trust.title = "Once you know why (its operator put it back from an old backup, say) and it is fixed: its pages sync again, and what it shows from now on is checked as before";
        trust.addEventListener("click", () => void this.trustNode(n.addr));
        caught.append(trust);
        li.append(caught);
      }
      return li;
    }));
    if (!ns.length) $("nodes").append(el("li", "No backup node: this device syncs only with devices on its network."));
  }

  private async addNode() {
    const addr = ($("node-addr") as HTMLInputElement).value.trim();
    const invite = ($("node-invite") as HTMLInputElement).value.trim();
    if (!/^\/.+\/p2p\/[^/]+$/.test(addr)) { this.say("A node's address is the /ip4/…/p2p/… line 'mycel node' prints"); return; }
    try {
      await api("/v1/nodes", { addr, invite });
      ($("node-addr") as HTMLInputElement).value = "";
      this.say("Registered with the node; syncing with it");
    } catch (e) { this.say("Not added: " + (e as Error).message); }
    await this.load();
  }

  // A rename is a record that reaches the other devices at their next
  // sync; where two renames meet, the later wins.
  private async renameDevice(d: DeviceRow) {
    const name = window.prompt("New name for " + d.name, d.name);
    if (name === null || name.trim() === d.name) return;
    try { await api("/v1/devices/rename", { device: d.key, name }); this.say("Renamed; other devices learn it when they next sync"); } catch (e) { this.say("Not renamed: " + (e as Error).message); }
    await this.load();
  }

  private async trustNode(addr: string) {
    try {
      const r = await api<{ pages: number }>("/v1/nodes/trust", { addr });
      this.say(`Trusted the node again: ${r.pages === 1 ? "1 page syncs" : r.pages + " pages sync"} with it again`);
    } catch (e) { this.say("Not trusted: " + (e as Error).message); }
    await this.load();
  }

  private async removeNode(addr: string) {
    try { await api("/v1/nodes/remove", { addr }); this.say("Removed the node"); } catch (e) { this.say((e as Error).message); }
    await this.load();
  }
}
