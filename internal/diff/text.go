package diff

import "strings"

// Line is one line of a line diff: Op is ' ' (in both), '-' (only in the
// first text) or '+' (only in the second); Text keeps its newline.
type Line struct {
	Op   byte   `json:"op"`
	Text string `json:"text"`
}

// Text is the line diff from a to b, every line of both in order.
func Text(a, b string) []Line {
	la, lb := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	var out []Line
	for _, e := range Diff(la, lb) {
		for i := 0; i < e.N; i++ {
			switch e.Kind {
			case Equal:
				out = append(out, Line{' ', la[e.A+i]})
			case Delete:
				out = append(out, Line{'-', la[e.A+i]})
			case Insert:
				out = append(out, Line{'+', lb[e.B+i]})
			}
		}
	}
	return out
}
