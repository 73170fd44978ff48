package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names a file to which a long-running command (`mycel
// node`) writes its CPU profile when it stops: `mycel bench node-load
// --profile` sets it for the node it runs, which is another process. Not
// a flag: no one runs a node for this but a benchmark.
const cpuProfileEnv = "MYCEL_CPUPROFILE"

// startCPUProfile starts the CPU profile cpuProfileEnv asks for, if any;
// the function returned stops it and writes the file.
func startCPUProfile() (func(), error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
