// The web app: every page of the vault in a sidebar (searchable, following
// every change the device stores), the open page in a ProseMirror editor
// kept in step with the device (sync.ts), and its sync status. It talks
// only to the device's JSON API under /api, the same handlers the CLI uses.
import { baseKeymap, toggleMark } from "prosemirror-commands";
import { history, redo, undo } from "prosemirror-history";
import { keymap } from "prosemirror-keymap";
import { EditorState, type Command } from "prosemirror-state";
import { EditorView } from "prosemirror-view";
import { toDoc, type ApiBlock } from "./convert.ts";
import { schema } from "./schema.ts";
import { PageSync, type DocAnswer, type Transport } from "./sync.ts";

const $ = (id: string) => document.getElementById(id)!;

interface Row { id: string; title: string; type: string; archived: boolean; updated: string; snippet: string }

async function api<T>(path: string, body?: unknown): Promise<T> {
  const r = await fetch("/api" + path, body === undefined
    ? { headers: { Accept: "application/json" } }
    : { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const out = await r.json();
  if (!r.ok) throw new Error(out.error || r.statusText);
  return out as T;
}

const net: Transport = {
  load: (id) => api<DocAnswer>(`/v1/objects/${id}/doc`),
  edit: (id, base, blocks: ApiBlock[], newVersion, editId) => api<DocAnswer>(`/v1/objects/${id}/doc`, { base, blocks, new_version: newVersion, edit_id: editId }),
};

// Enter splits the block (not only its line): a heading continues as a
// paragraph, a list item as an item of the same list; in code it is a
// new line of the code.
const splitBlock: Command = (state, dispatch) => {
  const { $from, $to } = state.selection;
  if ($from.parent.type.name !== "line" || !$from.sameParent($to)) return false;
  const block = $from.node($from.depth - 1);
  if (block.attrs.type === "code" || block.attrs.type === "math" || block.attrs.type === "raw") {
    if (dispatch) dispatch(state.tr.insertText("\n").scrollIntoView());
    return true;
  }
  const keep = ["bulleted", "numbered", "todo"].includes(block.attrs.type);
  const attrs = { id: "", type: keep ? block.attrs.type : "paragraph", attrs: keep ? block.attrs.attrs : null, kept: false };
  if (dispatch) {
    const tr = state.tr.deleteSelection();
    tr.split(tr.mapping.map($from.pos), 2, [{ type: schema.nodes.block, attrs }, { type: schema.nodes.line }]);
    dispatch(tr.scrollIntoView());
  }
  return true;
};

let pages: Row[] = [];
let current: string | null = null;
let view: EditorView | null = null;
let sync: PageSync | null = null;

function listPages() {
  const q = (($("search") as HTMLInputElement).value || "").trim().toLowerCase();
  const ul = $("pages");
  ul.replaceChildren();
  for (const p of pages) {
    if (q && !(p.title || "").toLowerCase().includes(q) && !(p.snippet || "").toLowerCase().includes(q)) continue;
    const li = document.createElement("li");
    li.textContent = p.title || "Untitled";
    li.title = p.snippet || "";
    if (p.id === current) li.setAttribute("aria-current", "page");
    li.addEventListener("click", () => void openPage(p.id));
    ul.append(li);
  }
}

async function openPage(id: string) {
  // What was typed on the page left is sent before its editor goes.
  if (sync && !(await sync.settle())) {
    $("vault").textContent = "The last edits of this page are not saved yet, so it stays open (retrying)";
    return;
  }
  current = id;
  listPages();
  const d = await net.load(id);
  $("title").textContent = d.details.title || "Untitled";
  view?.destroy();
  const host = $("page");
  host.replaceChildren();
  const state = EditorState.create({
    doc: toDoc(d.blocks),
    plugins: [
      history(),
      keymap({ "Mod-z": undo, "Mod-y": redo, "Shift-Mod-z": redo, "Mod-b": toggleMark(schema.marks.bold), "Mod-i": toggleMark(schema.marks.italic), "Mod-e": toggleMark(schema.marks.code), Enter: splitBlock }),
      keymap(baseKeymap),
    ],
  });
  const v = new EditorView(host, {
    state,
    dispatchTransaction(tr) {
      v.updateState(v.state.apply(tr));
      if (tr.docChanged && !tr.getMeta("remote")) s.changed();
    },
  });
  const s = new PageSync(id, v, net);
  s.base = d.heads;
  s.onError = (m) => { $("vault").textContent = "Not saved yet: " + m; };
  view = v;
  sync = s;
  await showStatus();
}

async function showStatus() {
  try {
    const s = await api<{ status: string; reason?: string; vault_id: string; objects?: { status: string }[] }>("/v1/status" + (current ? "?object=" + current : ""));
    const label = current && s.objects && s.objects.length ? s.objects[0].status : s.status;
    $("badge").textContent = label || "";
    $("badge").dataset.status = label || "";
    $("vault").textContent = "Vault " + s.vault_id.slice(0, 12) + " · " + (s.status || "") + (s.reason ? " · " + s.reason : "");
  } catch (e) {
    $("vault").textContent = String((e as Error).message || e);
  }
}

async function loadPages() {
  pages = await api<Row[]>("/v1/objects");
  pages.sort((a, b) => (b.updated || "").localeCompare(a.updated || ""));
  listPages();
}

async function start() {
  $("search").addEventListener("input", listPages);
  await loadPages();
  await showStatus();
  setInterval(() => void showStatus(), 2000);
  // Every change the device stores (sync, any command, this app) arrives
  // here: the list follows, and the open page merges it.
  const events = new EventSource("/api/v1/events");
  events.addEventListener("changed", (ev) => {
    const c = JSON.parse((ev as MessageEvent).data) as { id: string; heads: string[] };
    void loadPages();
    if (sync && c.id === current) void sync.remote(c.heads);
  });
}

// Leaving with typing not yet merged by the device: the browser asks first.
window.addEventListener("beforeunload", (ev) => { if (sync && sync.busy) ev.preventDefault(); });

start().catch((e) => { $("page").textContent = String((e as Error).message || e); });
