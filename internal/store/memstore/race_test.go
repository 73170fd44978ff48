//go:build race

package memstore

// Under the race detector SQLite (C translated to Go) runs some 40 times
// slower: the comparisons with it ask fewer questions.
const raceEnabled = true
