// Sync control from the web app: the open page's "Sync" toggle (off keeps
// the page to this device: 'mycel sync off') and this device's sync mode
// in Devices & settings ('mycel sync mode'). Both go through /v1/sync, the
// engine calls of the CLI, and show what the device answers, never what
// was clicked.
import { api } from "./api.ts";
import type { Toggle } from "./keep.ts";

/** SyncState is the device's answer (api.SyncState); off answers
 * ?object=ID. */
export interface SyncState { mode: string; sync_off: string[]; object?: string; off?: boolean }

/** The modes, as the device names them, with what each syncs with. */
export const modes: [string, string][] = [
  ["all", "Backup nodes and devices on this network"],
  ["lan-only", "Devices on this network only, never a node"],
  ["node-only", "Backup nodes only, no device directly"],
  ["local-only", "Nothing: every edit stays on this device"],
];

/** pageSyncToggle shows whether the page st was asked about syncs. */
export function pageSyncToggle(st: SyncState): Toggle {
  return st.off
    ? { checked: false, disabled: false, title: "Sync is off for this page: its changes and files stay on this device, and no node or device learns of it. On: its whole history is shared" }
    : { checked: true, disabled: false, title: "This page syncs. Off: its changes and files from now on stay on this device (what was shared stays shared)" };
}

/** modeNote says what the mode in force is, when the running device
 * narrows the stored one (its flags), or where to change it. */
export function modeNote(stored: string, inForce: string | undefined): string {
  if (!inForce) return "This device is not running: the mode takes effect when it starts.";
  if (inForce === stored) return `In force now: ${inForce}.`;
  return `In force now: ${inForce} (as 'mycel up' was started).`;
}

const $ = (id: string) => document.getElementById(id)!;

/** LogLine is one line of the activity log (api.LogLine). */
export interface LogLine { kind: string; text: string; reason?: string }

function li(text: string): HTMLLIElement {
  const e = document.createElement("li");
  e.textContent = text;
  return e;
}

/** SyncControl wires #sync-page (the page's toggle) and #sync-mode (the
 * mode in settings) to the device. */
export class SyncControl {
  private seq = 0;
  private posting = 0;

  constructor(private current: () => string | null, private say: (m: string) => void, private inForce: () => Promise<string | undefined>) {
    const page = $("sync-page") as HTMLInputElement, mode = $("sync-mode") as HTMLSelectElement;
    mode.replaceChildren(...modes.map(([m, what]) => { const o = document.createElement("option"); o.value = m; o.textContent = `${m}: ${what}`; return o; }));
    page.addEventListener("change", () => {
      const id = current();
      if (id) void this.set(page, { pages: [id], off: !page.checked }, page.checked ? "This page syncs again: its whole history goes out" : "Sync is off for this page: it stays on this device");
    });
    mode.addEventListener("change", () => void this.set(mode, { mode: mode.value }, "Sync mode: " + mode.value));
    // After the panel's own listener has shown it (a timer runs once
    // every listener of the click has).
    $("settings-btn").addEventListener("click", () => setTimeout(() => void this.refresh(), 0));
  }

  /** refresh reads the device's sync control and shows it. */
  async refresh() {
    const id = this.current();
    if (this.posting) return;
    const mine = ++this.seq;
    try {
      const st = await api<SyncState>("/v1/sync" + (id ? "?object=" + id : ""));
      // What the running device has in force costs a status: only while
      // the settings show it.
      const settings = !$("settings").hidden;
      const force = settings ? await this.inForce() : undefined;
      if (mine !== this.seq || this.posting) return;
      if (settings) {
        ($("sync-mode") as HTMLSelectElement).value = st.mode;
        $("mode").textContent = modeNote(st.mode, force);
        const lines = await api<LogLine[]>("/v1/log?n=20");
        if (mine === this.seq) $("activity").replaceChildren(...(lines.length ? lines.map((l) => li(l.text)) : [li("Nothing yet: what sync does shows here.")]));
      }
      const asked = !!id && st.object === id && id === this.current();
      $("sync-toggle").hidden = !asked;
      if (asked) {
        const t = pageSyncToggle(st), el = $("sync-page") as HTMLInputElement;
        el.checked = t.checked;
        el.disabled = t.disabled;
        $("sync-toggle").setAttribute("title", t.title);
      }
    } catch { /* the device is gone: the status bar says so */ }
  }

  private async set(el: HTMLInputElement | HTMLSelectElement, req: { pages?: string[]; off?: boolean; mode?: string }, done: string) {
    this.posting++;
    this.seq++;
    el.disabled = true;
    try {
      await api<SyncState>("/v1/sync", req);
      this.say(done);
    } catch (e) {
      this.say("Sync: " + (e as Error).message);
    } finally {
      this.posting--;
      el.disabled = false;
    }
    await this.refresh();
  }
}
