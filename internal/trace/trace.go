// Package trace loads real editing traces (gzipped JSON, see DESIGN.md) and
// replays them through the merge engine, for tests and benchmarks.
package trace

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Patch is one edit: at Pos (in code points) delete Del characters, then
// insert Ins.
type Patch struct {
	Pos int
	Del int
	Ins string
}

// UnmarshalJSON reads the [pos, del, ins] array form.
func (p *Patch) UnmarshalJSON(b []byte) error {
	var raw [3]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if err := json.Unmarshal(raw[0], &p.Pos); err != nil {
		return fmt.Errorf("patch position: %w", err)
	}
	if err := json.Unmarshal(raw[1], &p.Del); err != nil {
		return fmt.Errorf("patch delete count: %w", err)
	}
	return json.Unmarshal(raw[2], &p.Ins)
}

// Txn is one atomic edit.
type Txn struct {
	Time        time.Time `json:"time"`
	Parents     []int     `json:"parents"`
	NumChildren int       `json:"numChildren"`
	Agent       int       `json:"agent"`
	Patches     []Patch   `json:"patches"`
}

// Trace is a whole editing trace.
type Trace struct {
	Kind         string `json:"kind"`
	StartContent string `json:"startContent"`
	EndContent   string `json:"endContent"`
	NumAgents    int    `json:"numAgents"`
	Txns         []Txn  `json:"txns"`
}

// Concurrent reports whether the trace has a DAG of transactions.
func (t *Trace) Concurrent() bool { return t.Kind == "concurrent" }

// Edits counts the patches.
func (t *Trace) Edits() int {
	n := 0
	for _, tx := range t.Txns {
		n += len(tx.Patches)
	}
	return n
}

// Load reads a trace file, gzipped or not.
func Load(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load trace: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("load trace %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var t Trace
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, fmt.Errorf("load trace %s: %w", path, err)
	}
	for i, tx := range t.Txns {
		for _, p := range tx.Parents {
			if p < 0 || p >= i {
				return nil, fmt.Errorf("load trace %s: txn %d has parent %d, not an earlier txn", path, i, p)
			}
		}
	}
	return &t, nil
}
