// Keeping files offline from the web app: the open page's "Keep offline"
// toggle, the whole vault's "Keep all files offline" (in Devices &
// settings), and what the page's kept files still lack. Both toggles go
// through /v1/files/keep, the engine calls of `mycel files keep`, and show
// what the device answers, never what was clicked: whether a page is kept
// (by itself or with the whole vault) is the device's to say.
import { api } from "./api.ts";
import { bytes } from "./files.ts";

/** KeepState is the device's answer (api.KeepState); kept answers
 * ?object=ID. */
export interface KeepState { all: boolean; pages: string[]; object?: string; kept?: boolean }

/** FileRow is one file block of a page and how much of it is here
 * (api.FileRow). */
export interface FileRow { file_id?: string; block: string; name?: string; size: number; bytes_here: number; complete: boolean; error?: string; kept_offline?: boolean }

/** Toggle is how a checkbox shows a state. */
export interface Toggle { checked: boolean; disabled: boolean; title: string }

/** pageToggle shows whether the page st was asked about is kept. With the
 * whole vault kept it is kept, and not undone here: the device refuses
 * to stop keeping one page then (its "all" comes off first, in settings). */
export function pageToggle(st: KeepState): Toggle {
  if (st.all) return { checked: !!st.kept, disabled: true, title: "Every file of the vault is kept offline on this device: turn that off in Devices & settings first" };
  return st.kept
    ? { checked: true, disabled: false, title: "This page's files are kept on this device. Off: no more are fetched eagerly (those here stay)" }
    : { checked: false, disabled: false, title: "Download every file of this page now, whatever its size, and keep them on this device" };
}

/** vaultToggle shows whether every file of the vault is kept. */
export function vaultToggle(st: KeepState): Toggle {
  const some = st.pages.length;
  return {
    checked: st.all,
    disabled: false,
    title: st.all ? "Every file of every page, those added later too, is kept on this device"
      : some ? `${some} ${some === 1 ? "page is" : "pages are"} kept offline on this device; on: every file of the vault`
        : "Download every file of the vault, whatever its size, and keep them on this device",
  };
}

/** Note is what the page says of its kept files. */
export interface Note { text: string; downloading: boolean }

/** keepNote says how far a kept page's files are on this device (no text
 * when the page is not kept): still downloading (files and bytes here of
 * the whole), or all here. A file in the page twice counts once; a
 * damaged file block is not counted (it has no file to fetch). */
export function keepNote(kept: boolean, rows: FileRow[]): Note {
  if (!kept) return { text: "", downloading: false };
  const seen = new Set<string>();
  let n = 0, here = 0, had = 0, total = 0;
  for (const r of rows) {
    if (r.error || !r.file_id || seen.has(r.file_id)) continue;
    seen.add(r.file_id);
    n++;
    if (r.complete) here++;
    had += Math.min(r.bytes_here, r.size);
    total += r.size;
  }
  if (n === 0) return { text: "Kept offline: no files in this page yet", downloading: false };
  if (here === n) return { text: n === 1 ? "Kept offline: its file is on this device" : `Kept offline: all ${n} files are on this device`, downloading: false };
  return { text: `Downloading to keep offline: ${here} of ${n} files here (${bytes(had)} of ${bytes(total)})`, downloading: true };
}

const $ = (id: string) => document.getElementById(id)!;

function show(el: HTMLInputElement, t: Toggle) {
  el.checked = t.checked;
  el.disabled = t.disabled;
  (el.closest("label") || el).setAttribute("title", t.title);
}

/** Keep wires the two toggles (#keep-offline on the page, #keep-all in
 * settings) and the page's note (#keep-note) to the device. */
export class Keep {
  private seq = 0; // the last look asked for: older answers are dropped
  private posting = 0; // changes under way: no look meanwhile (it could read the state before them)
  private shownFor: string | null = null; // the page the toggle and the note show

  constructor(private current: () => string | null, private say: (m: string) => void) {
    const page = $("keep-offline") as HTMLInputElement, all = $("keep-all") as HTMLInputElement;
    page.addEventListener("change", () => {
      const id = current();
      if (id) void this.set(page, { pages: [id], off: !page.checked });
    });
    all.addEventListener("change", () => void this.set(all, { all: true, off: !all.checked }));
    $("settings-btn").addEventListener("click", () => void this.refresh());
  }

  /** refresh reads what is kept, and the open page's files when it is
   * kept, and shows it. */
  async refresh() {
    const id = this.current();
    if (id !== this.shownFor) {
      // Another page: nothing of the last one's shows while the device is asked.
      $("keep").hidden = $("keep-note").hidden = true;
      this.shownFor = id;
    }
    if (this.posting) return;
    const mine = ++this.seq;
    try {
      const st = await api<KeepState>("/v1/files/keep" + (id ? "?object=" + id : ""));
      const rows = id && st.kept ? await api<FileRow[]>(`/v1/objects/${id}/files`) : [];
      if (mine === this.seq && !this.posting) this.show(st, id, rows);
    } catch { /* the device is gone: the status bar says so */ }
  }

  private show(st: KeepState, id: string | null, rows: FileRow[]) {
    show($("keep-all") as HTMLInputElement, vaultToggle(st));
    if (id !== this.current()) return; // another page was opened meanwhile
    const asked = !!id && st.object === id;
    $("keep").hidden = !asked;
    if (asked) show($("keep-offline") as HTMLInputElement, pageToggle(st));
    const note = $("keep-note"), n = keepNote(asked && !!st.kept, rows);
    note.hidden = !n.text;
    note.textContent = n.text;
    note.dataset.downloading = String(n.downloading);
  }

  // set sends a change of either toggle; the toggle takes no other click
  // until the device has answered, and then shows what the device says
  // (read anew, with the page's files).
  private async set(el: HTMLInputElement, req: { pages?: string[]; all?: boolean; off: boolean }) {
    this.posting++;
    this.seq++;
    el.disabled = true;
    try {
      await api<KeepState>("/v1/files/keep", req);
      this.say(req.off ? "No longer kept offline (the files already here stay)" : req.all ? "Every file of the vault is kept offline on this device" : "This page's files are kept offline on this device");
    } catch (e) {
      this.say("Keep offline: " + (e as Error).message);
    } finally {
      this.posting--;
      el.disabled = false;
    }
    await this.refresh();
  }
}
