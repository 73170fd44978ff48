// The web app: every page of the vault in a sidebar (search through the
// device's full-text index, filters, a new page), the open page in the
// editor (editor.ts) kept in step with the device (sync.ts), its details
// (title, tags, archive, bin), its sync status and history (panels.ts),
// the vault's status bar, and keeping files offline (keep.ts). It talks
// only to the device's JSON API under /api, the same handlers the CLI
// uses: no rule of its own.
import type { EditorView } from "prosemirror-view";
import { api, downloadNote, type Row, type Status } from "./api.ts";
import { toDoc } from "./convert.ts";
import { makeEditor } from "./editor.ts";
import { Keep } from "./keep.ts";
import { SyncControl } from "./syncctl.ts";
import { History, Settings, showPeers, showVault } from "./panels.ts";
import { notTyped, PageSync, type DocAnswer, type Transport } from "./sync.ts";
import { wireTransfer } from "./transfer.ts";

const $ = (id: string) => document.getElementById(id)!;
const input = (id: string) => $(id) as HTMLInputElement;

const net: Transport = {
  load: (id) => api<DocAnswer>(`/v1/objects/${id}/doc`),
  edit: (id, base, blocks, newVersion, editId) => api<DocAnswer>(`/v1/objects/${id}/doc`, { base, blocks, new_version: newVersion, edit_id: editId }),
};

let pages: Row[] = [];
let hits: Row[] | null = null; // the search's results, while one is typed
let current: string | null = null;
let view: EditorView | null = null;
let sync: PageSync | null = null;
let readOnly = false;
let maxUpload = 0; // the device's largest file (0: not known yet)

function say(m: string) {
  $("message").textContent = m;
}

function row(id: string | null) { return pages.find((p) => p.id === id); }

// shown is what the sidebar lists: the search's hits, or every page of the
// filter picked (all, archived, bin) and type.
function shown(): Row[] {
  const filter = (($("filter") as HTMLSelectElement).value || "all");
  const type = ($("type-filter") as HTMLSelectElement).value;
  const rows = hits || pages;
  return rows.filter((p) => {
    if (type && p.type !== type) return false;
    if (filter === "bin") return p.deleted;
    if (p.deleted) return false;
    return filter === "archived" ? p.archived : hits !== null || !p.archived;
  });
}

function listPages() {
  const ul = $("pages");
  ul.replaceChildren();
  for (const p of shown()) {
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.tabIndex = 0;
    li.setAttribute("role", "option");
    li.textContent = p.title || "Untitled";
    if (p.match) {
      const m = document.createElement("small");
      m.textContent = p.match;
      li.append(m);
    }
    li.title = p.snippet || "";
    if (p.id === current) li.setAttribute("aria-current", "page");
    li.addEventListener("click", () => void openPage(p.id));
    li.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") void openPage(p.id);
      else if (ev.key === "ArrowDown") (li.nextElementSibling as HTMLElement | null)?.focus();
      else if (ev.key === "ArrowUp") ((li.previousElementSibling as HTMLElement | null) || input("search")).focus();
      else return;
      ev.preventDefault();
    });
    ul.append(li);
  }
  const types = [...new Set(pages.map((p) => p.type).filter(Boolean))].sort();
  const sel = $("type-filter") as HTMLSelectElement;
  const picked = sel.value;
  if (sel.options.length !== types.length + 1) {
    sel.replaceChildren(new Option("Every type", ""), ...types.map((t) => new Option(t, t)));
    sel.value = picked;
  }
}

let searchSeq = 0;
async function search() {
  const q = input("search").value.trim();
  const mine = ++searchSeq;
  if (!q) { hits = null; listPages(); return; }
  const found = await api<Row[]>("/v1/search?q=" + encodeURIComponent(q));
  if (mine !== searchSeq) return; // a later search answered first
  hits = found;
  listPages();
}

async function loadPages() {
  pages = await api<Row[]>("/v1/objects");
  pages.sort((a, b) => (b.updated || "").localeCompare(a.updated || ""));
  if (hits !== null) await search();
  else listPages();
  showDetails();
}

// showDetails fills the header from the open page's row.
function showDetails() {
  const r = row(current);
  const has = !!current;
  for (const id of ["title", "tags", "history-btn", "archive", "delete", "diag"]) ($(id) as HTMLElement).hidden = !has;
  if (!r) { $("undelete").hidden = true; return; }
  if (document.activeElement !== $("title")) input("title").value = r.title || "";
  $("archive").textContent = r.archived ? "Unarchive" : "Archive";
  $("delete").hidden = r.deleted;
  $("undelete").hidden = !r.deleted;
  $("page").classList.toggle("binned", r.deleted);
  ($("diag") as HTMLAnchorElement).href = `/api/v1/objects/${r.id}/diagnostics`;
}

let switching = false; // leaving a page: its editor takes no more typing

// firstBlocks is how many top-level blocks of a long page are shown before
// the rest: more than a screen holds.
const firstBlocks = 150;

// blockEnd is the position after the first n top-level blocks of doc.
function blockEnd(doc: import("prosemirror-model").Node, n: number): number {
  let pos = 0;
  for (let i = 0; i < n; i++) pos += doc.child(i).nodeSize;
  return pos;
}
let openSeq = 0;

async function openPage(id: string, retry = true) {
  const prev = current, mine = ++openSeq;
  // The page left takes no more typing; what was typed on it is sent
  // before its editor goes, so nothing typed while the next one loads is
  // lost with it.
  switching = true;
  view?.setProps({});
  if (sync && !(await sync.settle())) {
    switching = false;
    view?.setProps({});
    say("The last edits of this page are not saved yet, so it stays open (retrying)");
    return;
  }
  let d: DocAnswer, st: Status | null;
  try {
    [d, st] = await Promise.all([net.load(id), objectStatus(id)]);
  } catch (e) {
    switching = false;
    say("Could not open the page: " + (e as Error).message);
    if (prev && prev !== id && retry && mine === openSeq) void openPage(prev, false); // its sync has stopped: open it anew
    return;
  }
  if (mine !== openSeq) return; // another page was picked meanwhile
  switching = false;
  current = id;
  history.reset();
  listPages();
  input("tags").value = d.details.tags || "";
  view?.destroy();
  const host = $("page");
  host.replaceChildren();
  readOnly = downloading(st);
  // A long page is shown a screenful first and the rest a frame later:
  // building and styling every block before the first paint took most of
  // a second at 10,000 blocks. Until the rest is in, the editor takes no
  // typing (an edit of part of the page would delete the rest).
  const all = toDoc(d.blocks || []);
  const head = all.childCount > firstBlocks ? all.copy(all.content.cut(0, blockEnd(all, firstBlocks))) : all;
  let partial = head !== all;
  const v = makeEditor(host, head, {
    findPages: async (q) => (q ? await api<Row[]>("/v1/search?q=" + encodeURIComponent(q) + "&limit=8") : pages.filter((p) => !p.deleted).slice(0, 8)),
    onChange: () => s.changed(),
    editable: () => !switching && !partial && !readOnly && !(row(current)?.deleted),
    openMention: (target) => void openPage(target),
    files: {
      object: () => id,
      limit: () => maxUpload,
      idle: () => s.idle(),
      landed: (heads) => void s.remote(heads),
      say,
    },
  });
  if (partial) {
    // After the frame that paints the first blocks has been painted.
    requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => {
      // Unless a remote change showed the whole page meanwhile.
      if (!v.isDestroyed && v.state.doc.childCount === head.childCount) {
        const rest = all.content.cut(blockEnd(all, firstBlocks));
        v.dispatch(notTyped(v.state, v.state.tr.insert(v.state.doc.content.size, rest)));
      }
      partial = false;
      v.setProps({});
    }, 0)));
  }
  const s = new PageSync(id, v, net);
  s.base = d.heads;
  s.onError = (m) => say("Not saved yet: " + m);
  s.onSaved = () => { if ($("message").textContent?.startsWith("Not saved")) say(""); };
  view = v;
  sync = s;
  showDetails();
  showReadOnly(st);
  void keep.refresh();
  void syncCtl.refresh();
}

// A page still downloading when it is opened is read-only until it has
// arrived: "n of m changes".
function downloading(st: Status | null): boolean {
  return downloadNote(st?.objects?.[0], 0) !== null;
}

function showReadOnly(st: Status | null) {
  const note = $("readonly");
  const text = readOnly ? downloadNote(st?.objects?.[0], row(current)?.changes || 0) : null;
  note.hidden = !text;
  if (text) note.textContent = text;
}

async function objectStatus(id = current): Promise<Status | null> {
  if (!id) return null;
  try { return await api<Status>("/v1/status?object=" + id); } catch { return null; }
}

async function showStatus() {
  const st = await objectStatus();
  if (st) {
    const o = st.objects?.[0];
    const label = o ? o.status : st.status || "";
    $("badge").textContent = label;
    $("badge").dataset.status = label;
    $("badge").title = o?.reason || st.reason || "";
    if (!$("peers").hidden) showPeers(st, o);
    if (readOnly && !downloading(st)) {
      readOnly = false; // it has arrived: show it all, then let it be edited
      if (sync) await sync.remote([]);
      view?.setProps({});
    }
    showReadOnly(st);
  }
}

let vaultTick = 0;
async function tick() {
  try {
    // What is kept, and how far the open page's kept files are: the CLI
    // may change it, and downloads say nothing to the events.
    void keep.refresh();
    void syncCtl.refresh();
    await showStatus();
    // The whole vault's status costs a look at every object: less often.
    if (vaultTick++ % 2 === 0 || !current) {
      const v = await api<Status>("/v1/status");
      showVault(v);
      if (!current) { $("badge").textContent = v.status || ""; $("badge").dataset.status = v.status || ""; } // no page open: the vault's
    }
  } catch (e) {
    say(String((e as Error).message || e));
  }
}

async function act(what: string, f: () => Promise<unknown>) {
  try { await f(); await loadPages(); } catch (e) { say(what + ": " + (e as Error).message); }
}

function wire() {
  let searchTimer: ReturnType<typeof setTimeout> | null = null;
  input("search").addEventListener("input", () => {
    if (searchTimer) clearTimeout(searchTimer);
    searchTimer = setTimeout(() => void search().catch((e) => say("Search: " + e.message)), 80);
  });
  input("search").addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") { ($("pages").firstElementChild as HTMLElement | null)?.focus(); ev.preventDefault(); }
    if (ev.key === "Enter") { const first = shown()[0]; if (first) void openPage(first.id); }
  });
  $("filter").addEventListener("change", listPages);
  $("type-filter").addEventListener("change", listPages);
  // A page kept to this device is made so in the same write as its first
  // change: turned off after, its id would have gone out already.
  const newPage = (syncOff: boolean) => act(syncOff ? "New page kept here" : "New page", async () => {
    const made = await api<{ id: string }>("/v1/objects", { title: "Untitled", sync_off: syncOff });
    await loadPages();
    await openPage(made.id);
    input("title").focus();
    input("title").select();
  });
  $("new-page").addEventListener("click", () => void newPage(false));
  $("new-private").addEventListener("click", () => void newPage(true));
  const rename = () => {
    const r = row(current), t = input("title").value.trim();
    if (r && t !== r.title) void act("Rename", () => api(`/v1/objects/${r.id}/details`, { key: "title", value: t }));
  };
  input("title").addEventListener("change", rename);
  // Enter renames and goes on into the page. Its default is prevented:
  // the key's character would otherwise reach the editor, focused by then,
  // as a new empty block.
  input("title").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); rename(); view?.focus(); } });
  input("tags").addEventListener("change", () => {
    const id = current;
    if (id) void act("Tags", () => api(`/v1/objects/${id}/details`, { key: "tags", value: input("tags").value.trim() }));
  });
  $("archive").addEventListener("click", () => {
    const r = row(current);
    if (r) void act("Archive", () => api(`/v1/objects/${r.id}/archive`, { on: !r.archived }));
  });
  $("delete").addEventListener("click", () => {
    const id = current;
    if (id) void act("Move to bin", async () => {
      // What was typed goes first; the page stays open (and in sync) in the bin.
      if (sync && !(await sync.idle())) { say("The last edits are not saved yet: try again in a moment"); return; }
      await api(`/v1/objects/${id}/bin`, { on: true });
      say("Moved to the bin: pick Bin in the list to find it again");
    });
  });
  $("undelete").addEventListener("click", () => {
    const id = current;
    if (id) void act("Restore from bin", async () => { await api(`/v1/objects/${id}/bin`, { on: false }); say("Restored from the bin"); });
  });
  $("badge").addEventListener("click", async () => {
    const p = $("peers");
    p.hidden = !p.hidden;
    if (!p.hidden) { const st = await objectStatus(); if (st) showPeers(st, st.objects?.[0]); }
  });
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "k") { input("search").focus(); input("search").select(); ev.preventDefault(); }
    if (ev.altKey && (ev.key === "n" || ev.key === "N")) { $("new-page").click(); ev.preventDefault(); }
    if (ev.key === "Escape") { $("peers").hidden = true; }
  });
}

const keep = new Keep(() => current, say);
const syncCtl = new SyncControl(() => current, say, async () => (await api<Status>("/v1/status?object=" + "0".repeat(64))).mode);
const history = new History(() => current, async () => (sync ? sync.idle() : true), say);

async function start() {
  wire();
  // Files dropped anywhere but onto the page would be opened by the
  // browser in place of the app.
  for (const t of ["dragover", "drop"]) {
    document.addEventListener(t, (ev) => {
      const dt = (ev as DragEvent).dataTransfer;
      if (!dt || !Array.from(dt.types).includes("Files") || ev.defaultPrevented) return;
      ev.preventDefault();
      if (t === "drop") say(!current ? "Open a page to add files to it" : view && !view.editable ? "This page cannot be edited now, so no files can be added to it" : "Drop files onto the page's text to add them");
    });
  }
  void api<{ max_upload: number }>("/v1/files").then((l) => { maxUpload = l.max_upload; }, () => {});
  new Settings(say);
  wireTransfer(say, () => void loadPages());
  showDetails();
  await loadPages();
  await tick();
  setInterval(() => void tick(), 1000);
  // Every change the device stores (sync, any command, this app) arrives
  // here: the list follows, and the open page merges it.
  const events = new EventSource("/api/v1/events");
  events.addEventListener("changed", (ev) => {
    const c = JSON.parse((ev as MessageEvent).data) as { id: string; heads: string[] };
    void loadPages();
    if (sync && c.id === current) void sync.remote(c.heads);
    if (c.id === current && history.open) void history.load();
    if (c.id === current) void keep.refresh(); // files added to it, or a page kept arrived
    void showStatus();
  });
}

// Leaving with typing not yet merged by the device: the browser asks first.
window.addEventListener("beforeunload", (ev) => { if (sync && sync.busy) ev.preventDefault(); });

start().catch((e) => { $("page").textContent = String((e as Error).message || e); });
