package markdown

import (
	"encoding/base64"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/yuin/goldmark/ast"

	"mycel/internal/crdt"
	"mycel/internal/files"
)

// File blocks in Markdown. A file block renders as a paragraph of one
// image (an image file) or one link (any other file) to mycel:file/HASH,
// HASH the file's id (hex SHA-256 of its bytes), labelled by its caption
// or else its name, with the display size after a "|" as Obsidian writes
// it: ![photo.jpg|200](mycel:file/3a…). The Markdown cannot hold the
// manifest itself, so parsing gives a file block that only names the file
// (AttrFileRef) and keeps the reference as written (AttrFileSource): the
// engine resolves it to the manifest of that file (the page's own block
// first, so writing back what show gave is the same block, byte for byte),
// or, when it cannot, puts back what was written (Unresolved): a reference
// is never dropped.
const (
	// AttrFileRef is what a parsed file reference names: mycel:file/HASH
	// (or mycel:file/raw/MANIFEST, see below), or with WithLocalFiles a
	// path or wikilink target as written.
	AttrFileRef = "ref"
	// AttrFileSource is the reference's Markdown as written.
	AttrFileSource = "source"
	// fileAttr is the attribute of a file block holding its manifest
	// (base64 of its encoding; vault.FileAttr).
	fileAttr = "file"
)

// UnknownFileLabel labels a file block without a caption whose manifest
// does not decode.
const UnknownFileLabel = "file"

// FileHrefPrefix starts the mycel: link of a file.
const FileHrefPrefix = "mycel:file/"

// rawPrefix links a file block whose manifest does not decode (damaged,
// or from a newer mycel) by the attribute itself, so that even such a
// block survives a show and write.
const rawPrefix = FileHrefPrefix + "raw/"

var (
	fileHrefRe = regexp.MustCompile(`^mycel:file/([0-9a-fA-F]{64})$`)
	sizeRe     = regexp.MustCompile(`^[0-9]{1,5}(?:x[0-9]{1,5})?$`)
)

// FileHash gives the file id a parsed reference names (mycel:file/HASH),
// in lower case; ok is false for any other reference.
func FileHash(ref string) (hash string, ok bool) {
	m := fileHrefRe.FindStringSubmatch(ref)
	if m == nil {
		return "", false
	}
	return strings.ToLower(m[1]), true
}

// FileRawAttr gives the manifest attribute a mycel:file/raw/ reference
// carries; ok is false for any other reference.
func FileRawAttr(ref string) (attr string, ok bool) {
	v, ok := strings.CutPrefix(ref, rawPrefix)
	return v, ok && v != ""
}

// WithFiles gives Render the link of a file block in an export: from the
// block's manifest attribute to a path ("files/photo.jpg"; in the
// Obsidian flavor the name to write in ![[…]]). A file it does not link
// (ok false) renders as its mycel:file/ link.
func WithFiles(f func(manifest string) (href string, ok bool)) Option {
	return func(c *config) { c.files = f }
}

// WithLocalFiles makes Parse read, besides mycel:file/ links, a paragraph
// of only images, links to local files and embeds of files (![[img.png]],
// ![](img.png), [doc](files/doc.pdf)) as file references, for an import
// to resolve against the files of its folder.
func WithLocalFiles() Option { return func(c *config) { c.localFiles = true } }

// Unresolved is what a file reference that could not be resolved becomes:
// its Markdown as written, parsed without reading file references.
func Unresolved(b *crdt.Block) *crdt.Block {
	src := b.Attrs[AttrFileSource]
	bs := Parse(src, func(c *config) { c.noFiles = true })
	if len(bs) == 1 {
		return bs[0]
	}
	return &crdt.Block{Type: crdt.TypeRaw, Attrs: map[string]string{}, Text: src}
}

// fileRefs reads a paragraph of only file references (separated by
// spaces and line breaks) as one file block each; nil when it is anything
// else.
func (cv *converter) fileRefs(p ast.Node) []*crdt.Block {
	if cv.cfg.noFiles || p.ChildCount() == 0 {
		return nil
	}
	var cs []ast.Node
	for ch := p.FirstChild(); ch != nil; ch = ch.NextSibling() {
		cs = append(cs, ch)
	}
	return cv.refsOf(cs)
}

// refsOf reads nodes that are only file references and spaces; nil when
// they are anything else.
func (cv *converter) refsOf(cs []ast.Node) []*crdt.Block {
	var out []*crdt.Block
	for _, ch := range cs {
		if t, ok := ch.(*ast.Text); ok && strings.TrimSpace(string(t.Segment.Value(cv.src))) == "" {
			continue
		}
		b := cv.fileRef(ch)
		if b == nil {
			return nil
		}
		out = append(out, b)
	}
	return out
}

// trailingFiles splits a paragraph that ends in lines of only file
// references into its text before them and a file block each: a file
// block under a tight list item (or after a paragraph's text, written by
// hand) is on the line after the text, where Markdown reads it as part of
// the paragraph. ok is false when the paragraph ends otherwise.
func (cv *converter) trailingFiles(p ast.Node) (text string, marks []crdt.Mark, refs []*crdt.Block, ok bool) {
	if cv.cfg.noFiles {
		return "", nil, nil, false
	}
	var cs []ast.Node
	for ch := p.FirstChild(); ch != nil; ch = ch.NextSibling() {
		cs = append(cs, ch)
	}
	for i := 1; i < len(cs); i++ {
		t, isText := cs[i-1].(*ast.Text)
		if !isText || !t.SoftLineBreak() && !t.HardLineBreak() {
			continue
		}
		if refs = cv.refsOf(cs[i:]); refs == nil {
			continue
		}
		in := inliner{cv: cv}
		for _, c := range cs[:i] {
			in.node(c)
		}
		text = in.b.String()
		if n := len(text); n > 0 && (text[n-1] == '\n' || text[n-1] == ' ') {
			text = text[:n-1]
		}
		return text, clipMarks(normMarks(in.marks), len([]rune(text))), refs, true
	}
	return "", nil, nil, false
}

// fileRef reads one inline node as a file reference, or gives nil.
func (cv *converter) fileRef(n ast.Node) *crdt.Block {
	in := inliner{cv: cv}
	var ref, src string
	switch x := n.(type) {
	case *ast.Image:
		if x.Title != nil {
			return nil
		}
		ref = unescape(string(x.Destination))
		src = "![" + in.source(x) + "](" + rawDest(x.Destination) + ")"
		in.children(x)
	case *ast.Link:
		if x.Title != nil || !x.HasChildren() {
			return nil
		}
		ref = unescape(string(x.Destination))
		src = "[" + in.source(x) + "](" + rawDest(x.Destination) + ")"
		in.children(x)
	case *wikiNode:
		if !cv.cfg.localFiles || !localTarget(x.target, true) {
			return nil
		}
		b := newBlock(crdt.TypeFile)
		b.Attrs[AttrFileRef], b.Attrs[AttrFileSource] = x.target, x.source
		caption, size := x.alias, ""
		if sizeRe.MatchString(x.alias) {
			caption, size = "", x.alias // ![[img.png|200]]
		} else if c, s, ok := cutSize(x.alias); ok {
			caption, size = c, s
		}
		if size != "" {
			b.Attrs["size"] = size
		}
		b.Text = caption
		return b
	default:
		return nil
	}
	_, mycel := FileHash(ref)
	if _, raw := FileRawAttr(ref); !mycel && !raw && !(cv.cfg.localFiles && localTarget(ref, false)) {
		return nil
	}
	b := newBlock(crdt.TypeFile)
	b.Attrs[AttrFileRef], b.Attrs[AttrFileSource] = ref, src
	b.Text, b.Marks = in.b.String(), normMarks(in.marks)
	if c, s, ok := cutSize(b.Text); ok && !markedFrom(b.Marks, len([]rune(c))) && !sizeEscaped(n, cv.src, s) {
		b.Text, b.Attrs["size"] = c, s
		b.Marks = clipMarks(b.Marks, len([]rune(c)))
	}
	return b
}

// cutSize splits Obsidian's "label|200" (or "|200x100") into the label
// and the size.
func cutSize(label string) (rest, size string, ok bool) {
	i := strings.LastIndexByte(label, '|')
	if i < 0 || !sizeRe.MatchString(label[i+1:]) {
		return label, "", false
	}
	return label[:i], label[i+1:], true
}

// sizeEscaped reports whether the "|" before the size that n's label ends
// in was written escaped ("\|200"): then it is part of the caption, and
// there is no size. It reads the label's source, which the parsed text no
// longer tells apart.
func sizeEscaped(n ast.Node, src []byte, size string) bool {
	t, ok := n.LastChild().(*ast.Text)
	if !ok {
		return false
	}
	at := t.Segment.Stop - len(size) - 1
	if at < t.Segment.Start || at < 0 || src[at] != '|' || string(src[at+1:t.Segment.Stop]) != size {
		return false
	}
	return escapedAt(string(src), at)
}

// escapedAt reports whether s[at] is escaped: an odd run of backslashes
// before it.
func escapedAt(s string, at int) bool {
	n := 0
	for i := at - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func markedFrom(marks []crdt.Mark, at int) bool {
	for _, m := range marks {
		if m.End > at {
			return true
		}
	}
	return false
}

func clipMarks(marks []crdt.Mark, at int) []crdt.Mark {
	var out []crdt.Mark
	for _, m := range marks {
		if m.Start < at {
			m.End = min(m.End, at)
			out = append(out, m)
		}
	}
	return out
}

// localTarget reports whether a link or embed target may name a file in
// the folder being imported: no scheme or host, not a note (a wikilink
// without an extension names a note).
func localTarget(target string, wiki bool) bool {
	if wiki {
		target, _, _ = strings.Cut(target, "#")
		ext := path.Ext(target)
		return ext != "" && !strings.EqualFold(ext, ".md") && !strings.ContainsAny(ext, " ")
	}
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Path == "" || strings.EqualFold(path.Ext(u.Path), ".md") {
		return false
	}
	return true
}

// file renders a file block (see the top of this file).
func (r *renderer) file(b *crdt.Block) string {
	attr := b.Attrs[fileAttr]
	var m *files.Manifest
	if raw, err := base64.RawStdEncoding.DecodeString(attr); err == nil {
		m, _ = files.ParseManifest(raw)
	}
	label, marks := b.Text, b.Marks
	if label == "" {
		label, marks = UnknownFileLabel, nil
		if m != nil {
			label = m.Name
		}
	}
	size := b.Attrs["size"]
	image := m != nil && m.IsImage()
	if m != nil && r.inl.cfg.files != nil {
		if href, ok := r.inl.cfg.files(attr); ok {
			if r.inl.cfg.flavor == Obsidian {
				// Obsidian resolves a bare name to the one file of that
				// name; an image takes a size, a link a caption.
				alias := ""
				if c := strings.ReplaceAll(b.Text, "\n", " "); c != "" && !strings.ContainsAny(c, "[]|") && !sizeRe.MatchString(c) {
					alias = "|" + c // what would end the link, or read as a size, is left out
				}
				if image {
					if size != "" {
						alias += "|" + size
					}
					return "![[" + href + alias + "]]"
				}
				return "[[" + href + alias + "]]"
			}
			return r.fileLink(image, label, marks, size, href)
		}
	}
	href := rawPrefix + attr
	if m != nil {
		href = FileHrefPrefix + m.ID()
	}
	return r.fileLink(image, label, marks, size, href)
}

// fileLink writes a file's link. Its label is written as a paragraph's
// text is, line breaks kept (a line that would start a block escaped),
// so that a caption or name of several lines reads back whole; and a
// label ending in what reads as a size ("cover|200") has that "|"
// escaped, so that it stays part of the label (sizeEscaped).
func (r *renderer) fileLink(image bool, label string, marks []crdt.Mark, size, href string) string {
	lines, starts := r.inl.lines(label, marks, ctxLink)
	for i := 1; i < len(lines); i++ {
		if starts[i] {
			lines[i] = r.escapeLineStart(lines[i], false)
		}
	}
	if _, tail, ok := cutSize(label); ok && len(lines) > 0 {
		last := lines[len(lines)-1]
		if at := len(last) - len(tail) - 1; strings.HasSuffix(last, "|"+tail) && !escapedAt(last, at) {
			lines[len(lines)-1] = last[:at] + `\` + last[at:]
		}
	}
	s := "[" + strings.Join(lines, "\n")
	if size != "" {
		s += "|" + size
	}
	s += "](" + destination(href) + ")"
	if image {
		return "!" + s
	}
	return s
}

func (cv *converter) endsInFiles(p ast.Node) bool {
	_, _, _, ok := cv.trailingFiles(p)
	return ok
}
