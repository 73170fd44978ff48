// Files in the editor: a node view that shows a file block (an image
// inline, any other file as a link that downloads it, with its size; its
// caption is the block's line, edited as text), and uploads: files dropped
// onto the page or an image pasted are sent to the device (XHR, for its
// upload progress), each shown where it goes, with its progress, until
// the device's file block arrives in its place.
import type { Node } from "prosemirror-model";
import { Plugin, PluginKey, type Command } from "prosemirror-state";
import { Decoration, DecorationSet, type EditorView, type NodeView } from "prosemirror-view";
import { blockAt } from "./blocks.ts";
import { bytes, displaySize, fileInfo, fileURL, shownAsImage, type FileInfo } from "./files.ts";

/** FileView shows a file block: the file above, the caption (the block's
 * line) and any child blocks below, in contentDOM. */
export class FileView implements NodeView {
  dom: HTMLElement;
  contentDOM: HTMLElement;
  private figure: HTMLElement;
  private shown = "";
  private timer: ReturnType<typeof setTimeout> | null = null;
  private tries = 0;

  constructor(private node: Node, private object: string) {
    this.dom = document.createElement("div");
    this.dom.className = "b b-file";
    this.dom.dataset.type = "file";
    this.figure = document.createElement("div");
    this.figure.className = "file";
    this.figure.contentEditable = "false";
    this.contentDOM = document.createElement("div");
    this.contentDOM.className = "file-caption";
    this.dom.append(this.figure, this.contentDOM);
    this.render(node);
  }

  private render(node: Node) {
    this.node = node;
    const a = (node.attrs.attrs || {}) as Record<string, string>;
    this.dom.toggleAttribute("data-kept", !!node.attrs.kept);
    const key = (a.file || "") + "|" + (a.size || "");
    if (key === this.shown) return;
    this.shown = key;
    this.stopRetry();
    this.figure.replaceChildren();
    const f = fileInfo(a.file);
    if (!f) {
      // Kept as it is (attributes and all): only not shown.
      this.figure.append(note("A file this app cannot read (damaged, or from a newer mycel): kept as it is"));
      return;
    }
    this.figure.dataset.fileId = f.id;
    if (shownAsImage(f)) {
      const img = document.createElement("img");
      img.alt = node.firstChild?.textContent || f.name;
      img.loading = "lazy";
      img.draggable = false;
      const size = displaySize(a.size);
      if (size) {
        img.style.width = size.width + "px";
        if (size.height) img.style.height = size.height + "px";
      }
      img.addEventListener("error", () => {
        img.loading = "eager"; // hidden while missing: a lazy one would not load again
        void this.missing(f, () => { img.src = fileURL(f, this.object) + "&try=" + this.tries; });
      });
      img.addEventListener("load", () => this.here());
      img.src = fileURL(f, this.object);
      this.figure.append(img);
    }
    const bar = document.createElement("div");
    bar.className = "file-bar";
    const link = document.createElement("a");
    link.className = "file-link";
    link.href = fileURL(f, this.object, true);
    link.download = f.name;
    link.textContent = f.name || "file";
    link.title = "Download " + f.name + " (Ctrl+Enter in its caption)";
    const size = document.createElement("span");
    size.className = "file-size";
    size.textContent = bytes(f.size);
    bar.append(link, " ", size);
    this.figure.append(bar);
    if (!shownAsImage(f)) this.probe(f);
  }

  // missing says why a file is not here (the device's answer: a file not
  // on this device yet says how much is here) and tries again a while
  // later: its chunks may be on their way. again reloads an image, or
  // looks again for another file.
  private async missing(f: FileInfo, again: () => void, known?: string) {
    let why = known || "not shown";
    if (!known) {
      try {
        const r = await fetch(fileURL(f, this.object), { method: "GET", headers: { Accept: "application/json" } });
        if (!r.ok) why = ((await r.json()) as { error?: string }).error || r.statusText;
        else { void r.body?.cancel(); why = "not shown (not an image this browser can show)"; }
      } catch { /* no answer: the device is gone; the retry below asks again */ }
    }
    if (this.shown === "" || !this.figure.isConnected) return; // gone, or showing another file
    this.figure.classList.add("missing");
    let n = this.figure.querySelector(".file-note");
    if (!n) { n = note(""); this.figure.insertBefore(n, this.figure.firstChild); }
    n.textContent = why.charAt(0).toUpperCase() + why.slice(1);
    if (this.tries++ < 100) this.timer = setTimeout(again, 3000);
  }

  private here() {
    this.figure.querySelector(".file-note")?.remove();
    this.figure.classList.remove("missing");
  }

  // probe asks whether a file that is no image is here (HEAD: no bytes,
  // and nothing fetched), so that one not here says so before its link is
  // clicked.
  private probe(f: FileInfo) {
    void fetch(fileURL(f, this.object, true), { method: "HEAD" }).then((r) => {
      if (r.ok) this.here();
      // Not asked why (a GET would fetch it, on a device that can: a
      // click on the link does that).
      else if (r.status === 404) void this.missing(f, () => this.probe(f), "not on this device yet: a click on it fetches it when a device or the node that holds it is reachable");
    }, () => { /* the device is gone: the link says so when clicked */ });
  }

  private stopRetry() {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.tries = 0;
  }

  update(node: Node): boolean {
    if (node.type !== this.node.type || node.attrs.type !== "file") return false;
    this.render(node);
    const img = this.figure.querySelector("img");
    if (img) img.alt = node.firstChild?.textContent || img.alt;
    return true;
  }

  // The file shown is not the editor's: its clicks (the link) and its
  // changes (an image loading) are left alone.
  stopEvent(ev: Event): boolean { return this.figure.contains(ev.target as globalThis.Node); }
  ignoreMutation(m: MutationRecord | { type: "selection"; target: globalThis.Node }): boolean { return this.figure.contains(m.target); }

  destroy() { this.stopRetry(); this.shown = ""; }
}

function note(text: string): HTMLElement {
  const p = document.createElement("span");
  p.className = "file-note";
  p.setAttribute("role", "status");
  p.textContent = text;
  return p;
}

/** openFile downloads the file of the file block around the cursor
 * (Mod-Enter: the keyboard's way to the link). */
export function openFile(object: () => string): Command {
  return (state) => {
    const b = blockAt(state.selection.$from);
    const f = b && b.node.attrs.type === "file" ? fileInfo((b.node.attrs.attrs || {}).file) : null;
    if (!f) return false;
    const a = document.createElement("a");
    a.href = fileURL(f, object(), true);
    a.download = f.name;
    a.click();
    return true;
  };
}

// Uploads in progress: a widget each, after the block the file goes
// after, kept in place as the page changes around it.
const uploadsKey = new PluginKey<DecorationSet>("uploads");

interface UploadMeta { add?: { key: string; pos: number; el: HTMLElement }; remove?: string[] }

// waiting: the widgets of uploads the device has answered, by the id of
// the block it made; each goes once that block is in the page.
const waiting = new Map<string, string>();

/** uploadsPlugin shows the uploads in progress. */
export const uploadsPlugin = new Plugin<DecorationSet>({
  key: uploadsKey,
  state: {
    init: () => DecorationSet.empty,
    apply(tr, set) {
      set = set.map(tr.mapping, tr.doc);
      const m = tr.getMeta(uploadsKey) as UploadMeta | undefined;
      if (m?.add) set = set.add(tr.doc, [Decoration.widget(m.add.pos, m.add.el, { key: m.add.key, side: 1, ignoreSelection: true, stopEvent: () => true })]);
      if (m?.remove) set = set.remove(set.find(undefined, undefined, (spec) => m.remove!.includes(spec.key)));
      return set;
    },
  },
  props: { decorations: (s) => uploadsKey.getState(s) },
  view: () => ({
    update(view) {
      if (!waiting.size) return;
      const landed: string[] = [];
      view.state.doc.descendants((n) => {
        const k = waiting.get(n.attrs.id);
        if (n.type.name === "block" && k) { landed.push(k); waiting.delete(n.attrs.id); }
        return waiting.size > 0;
      });
      // Not within this update: a dispatch here would nest in the one
      // being shown.
      if (landed.length) queueMicrotask(() => { if (!view.isDestroyed) view.dispatch(view.state.tr.setMeta(uploadsKey, { remove: landed }).setMeta("addToHistory", false)); });
    },
  }),
});

/** Upload is what an upload needs of the app. */
export interface Uploads {
  object: () => string;
  limit: () => number; // the device's largest file (0: not known)
  idle: () => Promise<boolean>; // sends what is typed (the block the files go after gets its id)
  landed: (heads: string[]) => void; // the device added the file blocks: show them
  say: (m: string) => void;
}

/** FileAdded is the device's answer to an upload (api.FilesAdded). */
export interface FilesAdded { id: string; files: { file_id: string; block: string; name: string; type: string; size: number }[]; heads: string[]; version: string[] }

/** sendFile posts one file to the page: after the block after ("": at
 * the end), progress told the bytes sent. */
export function sendFile(object: string, after: string, file: File, progress: (done: number, total: number) => void): Promise<FilesAdded> {
  return new Promise((ok, fail) => {
    const x = new XMLHttpRequest();
    const q = new URLSearchParams({ name: file.name || "file" });
    if (after) q.set("after", after);
    x.open("POST", `/api/v1/objects/${encodeURIComponent(object)}/files?${q}`);
    x.setRequestHeader("Accept", "application/json");
    x.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    x.upload.addEventListener("progress", (ev) => progress(ev.loaded, ev.lengthComputable ? ev.total : file.size));
    x.addEventListener("load", () => {
      let out: { error?: string } = {};
      try { out = JSON.parse(x.responseText); } catch { /* its status says it */ }
      if (x.status === 200) ok(out as FilesAdded);
      else fail(new Error(out.error || `${x.status} ${x.statusText}`));
    });
    x.addEventListener("error", () => fail(new Error("the connection to the device was lost")));
    x.send(file);
  });
}

let uploadSeq = 0;

// anchorAt is the block files dropped at pos go after: the innermost block
// there (a table as a whole: a file is no cell), else the top-level block
// before pos, else the last.
function anchorAt(doc: Node, pos: number): { node: Node; pos: number } | null {
  const $p = doc.resolve(Math.max(0, Math.min(pos, doc.content.size)));
  let b = blockAt($p);
  while (b && ["cell", "row", "column"].includes(b.node.attrs.type)) b = blockAt(doc.resolve(b.pos));
  if (b) return b;
  let at = 0, found: { node: Node; pos: number } | null = null;
  doc.forEach((n, off) => { if (off < $p.pos || !found) found = { node: n, pos: off }; at = off; });
  return found || (doc.childCount ? { node: doc.lastChild!, pos: at } : null);
}

/** uploadFiles sends files to the page, to go after the block at pos,
 * one at a time in order (each after the one before), each shown with its
 * progress where it goes. */
export async function uploadFiles(view: EditorView, files: File[], pos: number, u: Uploads) {
  const anchor = anchorAt(view.state.doc, pos);
  if (!anchor) return;
  const limit = u.limit();
  const items = files.map((file) => {
    const key = "upload-" + ++uploadSeq;
    const el = document.createElement("div");
    el.className = "upload";
    el.dataset.upload = file.name;
    el.setAttribute("role", "status");
    const label = document.createElement("span");
    label.textContent = `Uploading ${file.name}`;
    const bar = document.createElement("progress");
    bar.max = Math.max(1, file.size);
    bar.value = 0;
    const pct = document.createElement("span");
    pct.className = "upload-progress";
    pct.textContent = "0%";
    el.append(label, " ", bar, " ", pct);
    return { file, key, el, label, bar, pct };
  });
  const at = anchor.pos + anchor.node.nodeSize;
  for (const it of items) view.dispatch(view.state.tr.setMeta(uploadsKey, { add: { key: it.key, pos: at, el: it.el } }).setMeta("addToHistory", false));
  const drop = (keys: string[]) => { if (!view.isDestroyed) view.dispatch(view.state.tr.setMeta(uploadsKey, { remove: keys }).setMeta("addToHistory", false)); };
  // The block goes after one the device knows by its id: what was typed
  // is sent first (a block made just now gets its id in the answer), and
  // the block is the one the first widget follows now (its position moved
  // with the page's changes meanwhile).
  await u.idle();
  let after = "";
  const w = uploadsKey.getState(view.state)!.find(undefined, undefined, (spec) => spec.key === items[0].key)[0];
  const before = w ? view.state.doc.resolve(w.from).nodeBefore : null;
  if (before && before.type.name === "block") after = before.attrs.id as string;
  // A failed upload says why where it was going, until dismissed (or a
  // while later), and in the status line.
  const failed = (it: (typeof items)[number], why: string) => {
    const msg = `Not uploaded: ${it.file.name}: ${why}`;
    u.say(msg);
    it.el.classList.add("failed");
    it.el.setAttribute("role", "alert");
    const x = document.createElement("button");
    x.textContent = "×";
    x.setAttribute("aria-label", "Dismiss");
    x.addEventListener("click", () => drop([it.key]));
    it.el.replaceChildren(msg, " ", x);
    setTimeout(() => drop([it.key]), 20000);
  };
  for (const it of items) {
    if (limit > 0 && it.file.size > limit) {
      failed(it, `${bytes(it.file.size)} is over the limit of ${bytes(limit)} for one file`);
      continue;
    }
    try {
      const r = await sendFile(u.object(), after, it.file, (done, total) => {
        it.bar.max = Math.max(1, total);
        it.bar.value = done;
        it.pct.textContent = Math.floor((100 * done) / Math.max(1, total)) + "%";
      });
      it.label.textContent = `Adding ${it.file.name}`;
      it.pct.textContent = "100%";
      const block = r.files[0]?.block;
      if (block) {
        waiting.set(block, it.key);
        after = block;
      }
      u.landed(r.heads);
      // Gone at the latest a while later (the page may have been
      // reloaded meanwhile, without the widget's block).
      setTimeout(() => { if (waiting.get(block) === it.key) { waiting.delete(block); drop([it.key]); } }, 15000);
    } catch (e) {
      failed(it, (e as Error).message);
    }
  }
}

/** filesOf lists the files of a drop or a paste (none: not for us). */
export function filesOf(dt: DataTransfer | null): File[] {
  if (!dt) return [];
  return Array.from(dt.files || []);
}
