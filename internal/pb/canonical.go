package pb

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ErrNotCanonical is wrapped when bytes decode but are not the one
// encoding their message has.
var ErrNotCanonical = errors.New("not in canonical encoding")

var canonical = proto.MarshalOptions{Deterministic: true}

// UnmarshalCanonical decodes b into m and accepts it only if b is exactly
// what mycel itself writes for m: fields in number order, each once,
// minimal varints, no default values written, no unknown fields. Protobuf
// parsing forgives all of these, so without the check one signed message
// has many encodings; where an id is the hash of the encoding (changes,
// membership records), anyone could give a signed message a second id
// without its key.
func UnmarshalCanonical(b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	if hasUnknown(m.ProtoReflect()) {
		return fmt.Errorf("%w: it has fields this version does not know", ErrNotCanonical)
	}
	again, err := canonical.Marshal(m)
	if err != nil {
		return err
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("%w: fields out of order, repeated, written with their default value or with padded numbers", ErrNotCanonical)
	}
	return nil
}

// MarshalCanonical is the encoding UnmarshalCanonical accepts.
func MarshalCanonical(m proto.Message) ([]byte, error) { return canonical.Marshal(m) }

// hasUnknown reports whether m or a message inside it kept unknown fields
// (re-encoding writes them back, so comparing bytes alone would pass them).
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && !found; i++ {
				found = hasUnknown(l.Get(i).Message())
			}
		} else {
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}
