// The device's JSON API under /api: the same handlers the CLI uses.

export async function api<T>(path: string, body?: unknown): Promise<T> {
  const r = await fetch("/api" + path, body === undefined
    ? { headers: { Accept: "application/json" } }
    : { method: "POST", headers: { Accept: "application/json", "Content-Type": "application/json" }, body: JSON.stringify(body) });
  let out: { error?: string } = {};
  try { out = await r.json(); } catch { /* an answer that is no JSON: its status says it */ }
  if (!r.ok) throw new Error(out.error || `${r.status} ${r.statusText}`);
  return out as T;
}

export interface Row { id: string; title: string; type: string; archived: boolean; deleted: boolean; updated: string; snippet: string; match?: string; changes?: number }

/** Peer is one peer's part in a page's status: a node or another device, connected or not. holds: whether it holds
 * this device's current version ("yes", "no", "unknown": a device met only through the node); since: when it last
 * said which version it holds. */
export interface Peer {
  peer: string; name: string; node: boolean; key?: string; addr?: string; connected?: boolean; holds_our_heads: boolean;
  holds?: string; since?: string; last_seen?: string; changes_to_send: number; bytes_to_send?: number; has_changes_for_us: boolean;
  changes_to_receive?: number; have?: number; total?: number; failure?: string;
}
/** PeerSummary is one peer's part in the vault's status: how many pages it holds. */
export interface PeerSummary { peer: string; name: string; node: boolean; connected: boolean; last_seen?: string; pages_held: number; pages_to_fetch: number; pages_unknown?: number; as_of?: string; failure?: string }
export interface NodeState { addr: string; connected: boolean; incompatible?: boolean; refused?: string; last_seen?: string; last_error?: string; caught_pages?: number; caught_at_ms?: number }
export interface ObjectStatus { id: string; title: string; status: string; reason?: string; changes_waiting_for_parents?: number; damaged_changes?: number; peers: Peer[] }
export interface Status {
  vault_id: string; device: string; data_dir: string; status?: string; reason?: string; mode?: string;
  nodes?: NodeState[]; devices_connected?: Peer[]; objects?: ObjectStatus[]; peers?: PeerSummary[]; summary?: string;
}
export interface Version { version: number; point: string; device: string; start: string; end: string; changes: number; merged: boolean }
export interface VersionView { version: number; markdown: string; diff: { op: number; text: string }[] }
export interface DeviceRow { key: string; name: string; added: string; removed: boolean; this_device: boolean; connected: boolean; connected_via: string; last_seen?: string }

/** time shows an RFC 3339 time as the browser's local time. */
export function time(s?: string): string {
  if (!s || s.startsWith("0001-")) return "never";
  const d = new Date(s);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

/** downloadNote is what a page still downloading shows ("n of m
 * changes"), or null when it is not downloading: changes wait for their
 * parents, or a peer holds changes of it this device lacks. have is what
 * the list says this device holds, for when no peer has said the total. */
export function downloadNote(o: ObjectStatus | undefined, have: number): string | null {
  if (!o) return null;
  const waiting = (o.changes_waiting_for_parents || 0) > 0;
  const from = o.peers.find((p) => p.has_changes_for_us && (p.changes_to_receive || 0) > 0);
  if (!waiting && !from) return null;
  const n = from && from.total ? from.have || 0 : have;
  const m = from && from.total ? from.total : have + (from ? from.changes_to_receive || 0 : 0);
  return `Still downloading: ${n} of ${m} changes. It can be edited once it has arrived.`;
}
