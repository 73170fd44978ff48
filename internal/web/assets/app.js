// The web app's first page: every page of the vault, searchable, each shown
// as the Markdown the engine renders, with its sync status. It talks only
// to the device's JSON API under /api (the same handlers as the CLI's).
"use strict";

const $ = (id) => document.getElementById(id);
let pages = [];
let current = null;

async function api(path) {
  const r = await fetch("/api" + path, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function listPages() {
  const q = $("search").value.trim().toLowerCase();
  const ul = $("pages");
  ul.replaceChildren();
  for (const p of pages) {
    if (q && !(p.title || "").toLowerCase().includes(q) && !(p.snippet || "").toLowerCase().includes(q)) continue;
    const li = document.createElement("li");
    li.textContent = p.title || "Untitled";
    li.title = p.snippet || "";
    if (p.id === current) li.setAttribute("aria-current", "page");
    li.addEventListener("click", () => openPage(p.id));
    ul.append(li);
  }
}

async function openPage(id) {
  current = id;
  listPages();
  const o = await api("/v1/objects/" + id);
  $("title").textContent = o.details.title || "Untitled";
  const pre = document.createElement("pre");
  pre.className = "md";
  pre.textContent = o.markdown;
  $("page").replaceChildren(pre);
  if (o.incomplete) $("page").prepend(Object.assign(document.createElement("p"), { className: "hint", textContent: "Still downloading: read-only until it is complete." }));
  await showStatus();
}

async function showStatus() {
  try {
    const s = await api("/v1/status" + (current ? "?object=" + current : ""));
    const label = current && s.objects && s.objects.length ? s.objects[0].status : s.status;
    $("badge").textContent = label || "";
    $("badge").dataset.status = label || "";
    $("vault").textContent = "Vault " + s.vault_id.slice(0, 12) + " · " + (s.status || "") + (s.reason ? " · " + s.reason : "");
  } catch (e) {
    $("vault").textContent = String(e.message || e);
  }
}

async function loadPages() {
  pages = await api("/v1/objects");
  pages.sort((a, b) => (b.updated || "").localeCompare(a.updated || ""));
  listPages();
}

async function start() {
  $("search").addEventListener("input", listPages);
  await loadPages();
  await showStatus();
  setInterval(showStatus, 2000);
  // Every change stored on this device, by sync or any command, arrives
  // here: the list and the open page follow.
  const events = new EventSource("/api/v1/events");
  events.addEventListener("changed", (ev) => {
    const c = JSON.parse(ev.data);
    loadPages();
    if (c.id === current) openPage(current);
  });
}

start().catch((e) => { $("page").textContent = String(e.message || e); });
