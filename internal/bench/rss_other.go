//go:build !unix

package bench

import "os"

// maxRSS is unknown here (0).
func maxRSS(*os.ProcessState) uint64 { return 0 }
