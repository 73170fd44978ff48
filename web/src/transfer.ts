// Export, import and backup from the settings panel: the same engine calls
// as `mycel export`, `mycel import` and `mycel backup`. An export is a zip
// download; an import uploads a zip or a folder (each file sent with its
// path in the folder); a backup goes to a folder of this computer.
import { api } from "./api.ts";

const $ = (id: string) => document.getElementById(id)!;

interface Imported { kind: string; created: number; updated: number; unchanged: number; not_converted: string[] | null }

async function upload(body: BodyInit, type?: string): Promise<Imported> {
  const r = await fetch("/api/v1/import", { method: "POST", body, headers: type ? { "Content-Type": type, Accept: "application/json" } : { Accept: "application/json" } });
  const out = await r.json();
  if (!r.ok) throw new Error(out.error || r.statusText);
  return out as Imported;
}

function report(r: Imported): string {
  const skipped = r.not_converted && r.not_converted.length ? ` · not converted: ${r.not_converted.length} (${r.not_converted.slice(0, 3).join("; ")}${r.not_converted.length > 3 ? "…" : ""})` : "";
  return `Imported (${r.kind}): ${r.created} new, ${r.updated} updated, ${r.unchanged} unchanged${skipped}`;
}

/** wireTransfer makes the panel's export, import and backup work. */
export function wireTransfer(say: (m: string) => void, after: () => void) {
  $("import-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const zip = ($("import-zip") as HTMLInputElement).files;
    const folder = ($("import-folder") as HTMLInputElement).files;
    try {
      let r: Imported;
      if (zip && zip.length) {
        r = await upload(zip[0], "application/zip");
      } else if (folder && folder.length) {
        const fd = new FormData();
        for (const f of Array.from(folder)) fd.append("file", f, f.webkitRelativePath || f.name);
        r = await upload(fd);
      } else {
        say("Pick a zip file or a folder to import");
        return;
      }
      $("import-result").textContent = report(r);
      say(report(r));
      after();
    } catch (e) {
      $("import-result").textContent = "Not imported: " + (e as Error).message;
    }
  });
  $("backup-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const dest = ($("backup-dest") as HTMLInputElement).value.trim();
    try {
      const m = await api<{ objects: number; changes: number; bytes: number }>("/v1/backup", { dest });
      $("backup-result").textContent = `Backed up ${m.objects} objects (${m.changes} changes, ${(m.bytes / 1048576).toFixed(1)} MiB) to ${dest}. Restore it with mycel restore-backup and the recovery phrase.`;
    } catch (e) {
      $("backup-result").textContent = "No backup: " + (e as Error).message;
    }
  });
}
