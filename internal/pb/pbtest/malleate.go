// Package pbtest makes the re-encodings of a protobuf message that parsers
// forgive, for tests that must refuse every one of them.
package pbtest

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Malleations returns encodings of the message in b that a lenient parser
// reads as the same message (or as one with an extra unknown field): an
// unknown field appended (the two bytes 0x78 0x01), the first field written
// twice, its tag or length as a padded varint, the fields in reverse order,
// and a field with its default value. b must be a valid encoding with at
// least one field.
func Malleations(b []byte) [][]byte {
	type field struct {
		num  protowire.Number
		typ  protowire.Type
		tag  []byte
		body []byte // what follows the tag
	}
	var fs []field
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return nil
		}
		fs = append(fs, field{num, typ, rest[:n], rest[n : n+m]})
		rest = rest[n+m:]
	}
	join := func(fs []field) []byte {
		var out []byte
		for _, f := range fs {
			out = append(append(out, f.tag...), f.body...)
		}
		return out
	}
	clone := func(x []byte) []byte { return append([]byte(nil), x...) }
	var out [][]byte
	out = append(out, append(clone(b), 0x78, 0x01))      // unknown field 15 = 1
	out = append(out, append(join(fs[:1]), join(fs)...)) // first field twice
	front := protowire.AppendVarint(protowire.AppendTag(nil, 100, protowire.VarintType), 1)
	out = append(out, append(front, b...)) // unknown field 100 = 1 in front
	padded := append([]byte{fs[0].tag[0] | 0x80, 0x00}, fs[0].tag[1:]...)
	out = append(out, append(padded, join(fs)[len(fs[0].tag):]...)) // tag as a two-byte varint
	if fs[0].typ == protowire.BytesType {
		v, _ := protowire.ConsumeBytes(fs[0].body)
		l := protowire.AppendVarint(nil, uint64(len(v)))
		l[len(l)-1] |= 0x80
		l = append(l, 0x00) // the same length, one byte longer
		f := append(append(clone(fs[0].tag), l...), v...)
		out = append(out, append(f, join(fs[1:])...))
	}
	if len(fs) > 1 {
		rev := make([]field, len(fs))
		for i, f := range fs {
			rev[len(fs)-1-i] = f
		}
		out = append(out, join(rev))
	}
	// Field 1 with its default value, written out: for bytes an empty
	// string, for varints a zero; either way it changes nothing parsed
	// when a later field 1 follows, so it goes in front.
	def := protowire.AppendTag(nil, fs[0].num, fs[0].typ)
	switch fs[0].typ {
	case protowire.BytesType:
		def = append(def, 0)
	case protowire.VarintType:
		def = append(def, 0)
	default:
		def = nil
	}
	if def != nil {
		out = append(out, append(def, b...))
	}
	return out
}
