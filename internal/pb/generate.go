// Package pb holds the Go code generated from proto/mycel.proto: the change
// envelope, its payload and the membership log. Other packages convert to
// their own types at the boundary.
package pb

//go:generate protoc --proto_path=../../proto --go_out=. --go_opt=paths=source_relative mycel.proto
