// The editor's schema: a page is a tree of blocks, as in mycel. Each block
// node holds one line of text (its inline content with marks) and then its
// child blocks; its mycel id, type and attributes are node attributes, so an
// edit names the blocks it changes by id.
import { Schema, type MarkSpec, type NodeSpec } from "prosemirror-model";

const nodes: Record<string, NodeSpec> = {
  doc: { content: "block+" },
  block: {
    content: "line block*",
    // tmp: this editor's own name for a block it made and the device has
    // not named yet (its id then comes back under that name).
    attrs: { id: { default: "" }, type: { default: "paragraph" }, attrs: { default: null }, kept: { default: false }, tmp: { default: "" } },
    defining: true,
    draggable: true,
    toDOM(node) {
      const a = (node.attrs.attrs || {}) as Record<string, string>;
      const dom: Record<string, string> = { class: "b b-" + node.attrs.type, "data-type": node.attrs.type };
      if (a.checked === "true") dom["data-checked"] = "true";
      if (a.language) dom["data-language"] = a.language;
      if (node.attrs.kept) dom["data-kept"] = "true";
      // A file block copied carries its file (the editor shows it
      // through a node view: editor.ts): pasted, it is the same file.
      if (node.attrs.type === "file" && a.file) {
        dom["data-file"] = a.file;
        if (a.size) dom["data-size"] = a.size;
      }
      return ["div", dom, 0];
    },
    parseDOM: [{ tag: "div.b", getAttrs: (el) => pastedAttrs(el as HTMLElement) }],
  },
  // whitespace "pre": a block's text keeps its line breaks and spaces
  // (code, math, verbatim Markdown) when the browser's edits are read back.
  line: { content: "inline*", whitespace: "pre", toDOM: () => ["p", { class: "line" }, 0], parseDOM: [{ tag: "p", preserveWhitespace: "full" }] },
  text: { group: "inline" },
};

// pastedAttrs are the attributes of a block pasted from its HTML. A file
// block without its file (pasted from elsewhere) is a paragraph: a file
// block with no manifest shows nothing and is damaged everywhere.
export function pastedAttrs(el: HTMLElement): Record<string, unknown> {
  const type = el.dataset.type || "paragraph";
  if (type !== "file") return { type };
  const file = el.dataset.file;
  if (!file || !/^[A-Za-z0-9+/]+={0,2}$/.test(file)) return { type: "paragraph" };
  return { type, attrs: el.dataset.size ? { file, size: el.dataset.size } : { file } };
}

const valued = (tag: string, cls: string, attr: string): MarkSpec => ({
  attrs: { value: { default: "" } },
  inclusive: false,
  toDOM: (m) => [tag, { class: cls, [attr]: m.attrs.value }, 0],
  parseDOM: [{ tag: tag + "." + cls, getAttrs: (el: HTMLElement) => ({ value: el.getAttribute(attr) || "" }) }],
});

const marks: Record<string, MarkSpec> = {
  bold: { toDOM: () => ["strong", 0], parseDOM: [{ tag: "strong" }, { tag: "b" }] },
  italic: { toDOM: () => ["em", 0], parseDOM: [{ tag: "em" }, { tag: "i" }] },
  strike: { toDOM: () => ["s", 0], parseDOM: [{ tag: "s" }] },
  highlight: { toDOM: () => ["mark", 0], parseDOM: [{ tag: "mark" }] },
  code: { inclusive: false, toDOM: () => ["code", 0], parseDOM: [{ tag: "code" }] },
  link: valued("a", "link", "href"),
  mention: valued("a", "mention", "data-target"),
  raw: { inclusive: false, toDOM: () => ["span", { class: "raw" }, 0], parseDOM: [{ tag: "span.raw" }] },
  // other: a mark of a type this editor does not know (a newer mycel's),
  // kept as it came (type and value) so that an edit sends it back. Not
  // parsed from a paste: it is no formatting a person gave.
  other: { attrs: { type: { default: "" }, value: { default: "" } }, inclusive: false, excludes: "", toDOM: (m) => ["span", { class: "other-mark", "data-mark": m.attrs.type }, 0] },
};

export const schema = new Schema({ nodes, marks });
