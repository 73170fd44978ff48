package vault

import (
	"cmp"
	"slices"

	"mycel/internal/change"
	"mycel/internal/crdt"
)

// DiagnosticFile is one file of the diagnosed page, by size and state:
// no name, type or id (the file's id is the hash of its bytes, which
// would confirm a guess of them).
type DiagnosticFile struct {
	Image  bool   `json:"image,omitempty"`
	Bytes  uint64 `json:"bytes"`
	Chunks int    `json:"chunks"`
	Here   int    `json:"chunks_here"`
	// State: "here" (every chunk), "partly here", "not here", or
	// "unreadable manifest".
	State string `json:"state"`
}

// diagnoseFiles describes the files of blocks, largest first.
func (e *Engine) diagnoseFiles(id change.ID, blocks []*crdt.Block) []DiagnosticFile {
	out := []DiagnosticFile{}
	for _, f := range filesOf(id, blocks) {
		if f.Manifest == nil {
			out = append(out, DiagnosticFile{State: "unreadable manifest"})
			continue
		}
		d := DiagnosticFile{Image: f.Manifest.IsImage(), Bytes: f.Manifest.Size}
		h, err := e.Here(f.Manifest)
		switch {
		case err != nil:
			d.State = "unreadable chunk list"
		case h.Complete():
			d.State = "here"
		case h.Have == 0:
			d.State = "not here"
		default:
			d.State = "partly here"
		}
		d.Chunks, d.Here = h.Chunks, h.Have
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b DiagnosticFile) int { return cmp.Compare(b.Bytes, a.Bytes) })
	return out
}
