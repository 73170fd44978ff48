// Package markdown converts between block trees (crdt.Block) and Markdown.
// Parsing is goldmark's (CommonMark with GFM tables, strikethrough, task
// lists and autolinks); rendering is ours, with minimal escaping: text that
// would read as markup gets a backslash (or, for spaces where they would be
// dropped, a character reference), nothing else.
//
// Two flavors (Parse and Render take WithFlavor; Obsidian is the default):
//
//   - Markdown: CommonMark + GFM. A soft line break is a space of the text;
//     a hard one ("\" or two spaces at the end of a line) is "\n" and renders
//     as "\" at the end of the line. Mentions render as links through the
//     caller's WithLinks function; one it cannot resolve renders as its text
//     followed by " (missing)".
//   - Obsidian: the above plus [[wiki links]] (mentions), ![[embeds]],
//     callouts, ==highlight==, %% comments %% and footnotes. Every line
//     break is "\n" of the text (Obsidian shows single line breaks) and
//     renders as a plain line break.
//
// Blocks and their Markdown:
//
//	paragraph     inline text; a paragraph that is one ![[embed]] is an embed block
//	heading1..6   # text (setext when the text holds a line break)
//	todo          - [ ] text / - [x] text (checked: "true" or "false")
//	bulleted      - text
//	numbered      1. text (start: on the first item of every list)
//	quote         > text; children when it holds more than one paragraph
//	callout       > [!kind]fold title, then the body (children) quoted
//	code          ``` fenced, language the info string; Text byte-exact
//	              without its last newline (indented code becomes fenced)
//	divider       ---
//	math          $$ … $$
//	table         | a | b | with a delimiter row; children: column blocks
//	              (align), then row blocks (the first is the header) of cell
//	              blocks. A parsed cell's col attribute names its column by
//	              place ("#0", "#1", …: parsed blocks have no ids yet),
//	              which Replace turns into the column block's id
//	link          [title](mycel:OBJECT-ID) alone in a paragraph
//	embed         ![[target|size]]
//	raw           verbatim: HTML blocks, link reference and footnote
//	              definitions, comments
//
// A list item's Text is its first paragraph; the rest of the item (more
// paragraphs, nested lists) are its Children. Lists carry two attributes of
// their own so that they render back the same: loose ("true" on every item
// of a list whose items are separated by blank lines) and break ("true" on
// the first item of a bulleted list that directly follows another one).
//
// Inline formatting is Marks over the text. Inline source with no mark of
// its own (raw HTML, images, links with a title, footnote references,
// comments, embeds inside text) is kept verbatim in the text under a mark
// of type MarkRaw, which Render writes as it is. Obsidian block ids (" ^id"
// at the end of a paragraph) and #tags stay in the text as typed; Tags
// collects the tags.
package markdown

import (
	"mycel/internal/crdt"
)

// Flavor is a Markdown dialect.
type Flavor int

const (
	// Obsidian is CommonMark + GFM + Obsidian's syntax (the default).
	Obsidian Flavor = iota
	// Markdown is CommonMark + GFM.
	Markdown
)

// MarkRaw marks inline Markdown source kept verbatim (see the package
// doc).
const MarkRaw = crdt.MarkRaw

// Option changes how Parse and Render work.
type Option func(*config)

type config struct {
	flavor Flavor
	// links resolves a mention's target: to an href (Markdown flavor) or
	// to the target to write in the wiki link (Obsidian flavor).
	links func(target string) (string, bool)
	// files links a file block's manifest to its exported file (WithFiles).
	files func(manifest string) (string, bool)
	// localFiles: Parse reads references to local files too
	// (WithLocalFiles); noFiles: it reads none (Unresolved).
	localFiles, noFiles bool
}

// WithFlavor chooses the dialect.
func WithFlavor(f Flavor) Option { return func(c *config) { c.flavor = f } }

// WithLinks gives Render the way to resolve a mention (and an embed's
// target): in the Markdown flavor to the href of a link (a relative path,
// say); in the Obsidian flavor to the target written in [[…]]. A target
// it does not resolve (ok false) renders as its text marked missing
// (Markdown) or as it is (Obsidian).
func WithLinks(f func(target string) (href string, ok bool)) Option {
	return func(c *config) { c.links = f }
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

func isList(t string) bool {
	return t == crdt.TypeBulleted || t == crdt.TypeNumbered || t == crdt.TypeTodo
}
