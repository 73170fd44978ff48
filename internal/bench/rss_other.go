//go:build !unix

package bench

import (
	"os"
	"time"
)

// maxRSS is unknown here (0).
func maxRSS(*os.ProcessState) uint64 { return 0 }

// selfCPU is unknown here (0).
func selfCPU() time.Duration { return 0 }
