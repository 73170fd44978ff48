// Package checks sets how hard property tests try: test packages call
// Default from TestMain so that every plain `go test` run checks enough
// random cases, while -rapid.checks on the command line still decides.
package checks

import (
	"flag"
	"os"
	"testing"
)

// Default runs m with rapid checking n cases per property unless the
// command line says otherwise.
func Default(m *testing.M, n string) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		if err := flag.Set("rapid.checks", n); err != nil {
			panic("checks: rapid is not linked into this test: " + err.Error())
		}
	}
	os.Exit(m.Run())
}
