// Pages between mycel's API form (blocks with text and marks over
// character offsets, characters being code points) and ProseMirror
// documents (offsets in UTF-16 units). Pure: tested under Node.
import { Fragment, type Mark, type Node } from "prosemirror-model";
import { schema } from "./schema.ts";

export interface ApiMark { start: number; end: number; type: string; value?: string }
export interface ApiBlock {
  id: string; type: string; attrs?: Record<string, string>; text: string;
  marks?: ApiMark[]; kept?: boolean; children?: ApiBlock[];
}

/** toDoc is the editor document of a page's blocks. */
export function toDoc(blocks: ApiBlock[]): Node {
  const content = blocks.map(toNode);
  if (content.length === 0) content.push(emptyBlock());
  return schema.node("doc", null, content);
}

export function emptyBlock(): Node {
  return schema.node("block", { type: "paragraph" }, [schema.node("line")]);
}

const blockType = schema.nodes.block, lineType = schema.nodes.line;

function toNode(b: ApiBlock): Node {
  // Most blocks have no marks: their text is one node (a page of 10,000
  // blocks is built several times faster than through textNodes).
  const text = !b.text ? [] : b.marks && b.marks.length ? textNodes(b.text, b.marks) : [schema.text(b.text)];
  const kids = [lineType.create(null, text)];
  if (b.children) for (const c of b.children) kids.push(toNode(c));
  return blockType.create({ id: b.id, type: b.type, attrs: b.attrs || null, kept: !!b.kept }, kids);
}

function markOf(m: ApiMark): Mark | null {
  const t = m.type === "other" ? undefined : schema.marks[m.type];
  // A type this editor does not know is kept as it is (see schema.ts).
  if (!t) return schema.marks.other.create({ type: m.type, value: m.value || "" });
  return t.spec.attrs && "value" in t.spec.attrs ? t.create({ value: m.value || "" }) : t.create();
}

function textNodes(text: string, marks: ApiMark[]): Node[] {
  const cps = Array.from(text);
  const cuts = new Set<number>([0, cps.length]);
  for (const m of marks) { cuts.add(Math.max(0, Math.min(m.start, cps.length))); cuts.add(Math.max(0, Math.min(m.end, cps.length))); }
  const at = [...cuts].sort((a, b) => a - b);
  const out: Node[] = [];
  for (let i = 0; i + 1 < at.length; i++) {
    const [s, e] = [at[i], at[i + 1]];
    if (s === e) continue;
    const ms = marks.filter((m) => m.start <= s && m.end >= e).map(markOf).filter((m): m is Mark => m !== null);
    out.push(schema.text(cps.slice(s, e).join(""), ms));
  }
  return out;
}

// codePoints is the length of s in code points (mycel's offsets).
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00) { n--; i++; }
  }
  return n;
}

/** fromDoc is the API form of an editor document. A block whose id an
 * earlier block already has (a split copies attributes) is sent as new. */
export function fromDoc(doc: Node): ApiBlock[] {
  const seen = new Set<string>();
  const blocks = (f: Fragment): ApiBlock[] => {
    const out: ApiBlock[] = [];
    f.forEach((n) => {
      if (n.type.name !== "block") return;
      let id = n.attrs.id as string;
      if (id && seen.has(id)) id = "";
      if (id) seen.add(id);
      const b: ApiBlock = { id, type: n.attrs.type, text: "" };
      if (n.attrs.attrs) b.attrs = n.attrs.attrs;
      const line = n.firstChild!;
      let text = "";
      let pos = 0; // in code points
      const marks: ApiMark[] = [];
      line.forEach((t) => {
        const s = t.text || "";
        const len = codePoints(s);
        for (const m of t.marks) {
          const value = (m.attrs && m.attrs.value) || undefined;
          const type = m.type === schema.marks.other ? (m.attrs.type as string) : m.type.name;
          const last = marks.find((x) => x.type === type && x.value === value && x.end === pos);
          if (last) last.end = pos + len;
          else marks.push(value ? { start: pos, end: pos + len, type, value } : { start: pos, end: pos + len, type });
        }
        text += s;
        pos += len;
      });
      b.text = text;
      if (marks.length) b.marks = marks.sort((x, y) => x.start - y.start || x.end - y.end || (x.type < y.type ? -1 : x.type > y.type ? 1 : 0));
      const kids: Node[] = [];
      n.forEach((c, _, i) => { if (i > 0) kids.push(c); });
      if (kids.length) b.children = blocks(Fragment.from(kids));
      out.push(b);
    });
    return out;
  };
  return blocks(doc.content);
}
