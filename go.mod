module mycel

go 1.26

require golang.org/x/crypto v0.44.0

require (
	golang.org/x/sys v0.38.0 // indirect
	google.golang.org/protobuf v1.36.10 // indirect
	pgregory.net/rapid v1.2.0 // indirect
)
