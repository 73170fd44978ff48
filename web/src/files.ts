// Files and images in a page: a file block (type "file") holds its
// manifest in the attribute "file" (base64 of mycel's FileManifest
// message), a display size in "size" as an embed's ("200" or "200x100"),
// and its caption as its text. The editor reads the name, type, size and id
// (its hash, files.WholeHash) from the manifest itself, so showing a page of
// images costs no request but the images'. Pure: tested under Node.
import type { Command } from "prosemirror-state";
import { NodeSelection, TextSelection } from "prosemirror-state";
import { blockAt, keepsContent } from "./blocks.ts";
import { schema } from "./schema.ts";

export interface FileInfo { id: string; name: string; type: string; size: number }

/** fileInfo reads a file block's manifest (its "file" attribute), or null
 * when it is not one (damaged, or from a newer mycel: the block is kept as
 * it is all the same). */
export function fileInfo(attr: string | undefined): FileInfo | null {
  if (!attr) return null;
  let bytes: Uint8Array;
  try {
    const bin = atob(attr.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((attr.length + 3) % 4));
    bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch { return null; }
  const out: FileInfo = { id: "", name: "", type: "", size: 0 };
  let i = 0;
  const varint = (): number => {
    let v = 0, mul = 1;
    for (let n = 0; n < 10; n++) {
      if (i >= bytes.length) throw new Error("short");
      const b = bytes[i++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return v;
    }
    throw new Error("long varint");
  };
  const text = new TextDecoder("utf-8", { fatal: true });
  try {
    while (i < bytes.length) {
      const key = varint(), field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) {
        const v = varint();
        if (field === 3) out.size = v;
      } else if (wire === 2) {
        const n = varint();
        if (i + n > bytes.length) return null;
        const b = bytes.subarray(i, i + n);
        i += n;
        if (field === 1) out.name = text.decode(b);
        else if (field === 2) out.type = text.decode(b);
        else if (field === 4) out.id = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
      } else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return null;
    }
  } catch { return null; }
  return out.id.length === 64 ? out : null;
}

// The image types shown inline: those the device serves as images (see
// api.servedType). SVG is not among them: it could run script.
const inlineImages = new Set(["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon"]);

/** shownAsImage: the file is shown inline, as an image. */
export function shownAsImage(f: FileInfo): boolean {
  return inlineImages.has(f.type.split(";")[0].trim().toLowerCase());
}

/** fileURL is where the device serves a file of page object. */
export function fileURL(f: FileInfo, object: string, download = false): string {
  return `/api/v1/files/${f.id}?object=${encodeURIComponent(object)}${download ? "&download=1" : ""}`;
}

/** bytes says n bytes as mycel's CLI does (decimal units). */
export function bytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let u = -1;
  do { n /= 1000; u++; } while (n >= 1000 && u < units.length - 1);
  return `${n.toFixed(1)} ${units[u]}`;
}

/** displaySize reads a "size" attribute ("200", "200x100") as pixels, or
 * null when there is none or it is no size. */
export function displaySize(s: string | undefined): { width: number; height?: number } | null {
  const m = /^(\d{1,5})(?:x(\d{1,5}))?$/.exec(s || "");
  if (!m || +m[1] === 0) return null;
  return m[2] ? { width: +m[1], height: +m[2] } : { width: +m[1] };
}

/** guardFileBlock keeps Backspace (dir -1) and Delete (1) from joining a
 * file block's caption into the block before it, or the block after one
 * into its caption (or nesting it there): they joined the caption into
 * the block before, and the file block, its file with it, was gone.
 * Instead Backspace at the start of a file block's caption, or of a block
 * right after one, and Delete at the end of the line before one, select
 * the whole file block (a second key deletes it, as a person means then);
 * Backspace in an empty block after one deletes that block. */
export function guardFileBlock(dir: -1 | 1): Command {
  return (state, dispatch) => {
    const { $from, empty } = state.selection;
    if (!empty || $from.parent.type !== schema.nodes.line) return false;
    if (dir < 0) {
      const b = blockAt($from);
      if ($from.parentOffset !== 0 || !b) return false;
      if (keepsContent(b.node.attrs.type)) {
        if (dispatch) dispatch(state.tr.setSelection(NodeSelection.create(state.doc, b.pos)));
        return true;
      }
      const $b = state.doc.resolve(b.pos), index = $b.index();
      const first = $b.parent.type === schema.nodes.doc ? 0 : 1;
      if (index <= first) return false;
      const prev = $b.parent.child(index - 1);
      if (prev.type !== schema.nodes.block || !keepsContent(prev.attrs.type)) return false;
      const prevPos = b.pos - prev.nodeSize;
      if (dispatch) {
        if (b.node.childCount === 1 && b.node.firstChild!.content.size === 0) {
          const tr = state.tr.delete(b.pos, b.pos + b.node.nodeSize);
          dispatch(tr.setSelection(TextSelection.create(tr.doc, prevPos + 2 + prev.firstChild!.content.size)).scrollIntoView());
        } else {
          dispatch(state.tr.setSelection(NodeSelection.create(state.doc, prevPos)));
        }
      }
      return true;
    }
    if ($from.parentOffset !== $from.parent.content.size) return false;
    // The block Delete joins into this line: the next in document order
    // (this block's first child, else its next sibling or an ancestor's).
    const after = $from.after(); // past this line
    const next = state.doc.resolve(after).nodeAfter;
    let pos = after;
    if (!next) {
      // Past this block's last child: the block after it, or after its parent.
      let $p = state.doc.resolve(after);
      while ($p.depth > 0 && !$p.nodeAfter) $p = state.doc.resolve($p.after());
      if (!$p.nodeAfter) return false;
      pos = $p.pos;
    }
    const n = state.doc.nodeAt(pos);
    if (!n || n.type !== schema.nodes.block || !keepsContent(n.attrs.type)) return false;
    if (dispatch) dispatch(state.tr.setSelection(NodeSelection.create(state.doc, pos)));
    return true;
  };
}

/** fileEnter: Enter in a file block's caption makes a new paragraph after
 * the file block (before it, at the caption's start) and leaves the
 * caption whole: a split would have moved part of it into the new block. */
export const fileEnter: Command = (state, dispatch) => {
  const { $from, empty } = state.selection;
  if (!empty || $from.parent.type !== schema.nodes.line) return false;
  const b = blockAt($from);
  if (!b || b.node.attrs.type !== "file") return false;
  if (dispatch) {
    const p = schema.node("block", { type: "paragraph" }, [schema.node("line")]);
    const at = $from.parentOffset === 0 && $from.parent.content.size > 0 ? b.pos : b.pos + b.node.nodeSize;
    const tr = state.tr.insert(at, p);
    dispatch(tr.setSelection(TextSelection.create(tr.doc, at === b.pos ? $from.pos + p.nodeSize : at + 2)).scrollIntoView());
  }
  return true;
};
