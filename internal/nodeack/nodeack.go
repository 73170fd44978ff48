// Package nodeack signs and checks a backup node's acknowledgements, so
// that a node cannot lie unnoticed. A node signs each word it gives of an
// object's heads (its Heads messages) with its key, with its time; a
// device keeps the latest such word per object and node, and
// devices pass them to each other when they meet. A node that stores only
// ever adds changes, so every later word of it about an object must hold
// (in its causal closure) the heads of every earlier one: a word that
// does not — an older state than confirmed (rollback), changes confirmed
// and then missing (withholding), or two devices shown diverged states
// (a fork, seen once the devices have met) — is a lie.
//
// It is pure: encoding, signatures and the check against a graph that the
// caller reads (Parents).
package nodeack

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"slices"

	"mycel/internal/change"
)

// domain separates these signatures from every other one a key makes.
const domain = "mycel/node-ack/v1\n"

// Ack is a node's signed word: at Time (its clock, Unix ms) it durably
// held the object's changes up to Heads.
type Ack struct {
	Object change.ID
	Heads  []change.ID
	Time   int64
	Sig    []byte
}

// Message is the signed encoding of (vault, object, heads, time): the
// domain, the vault id's length and bytes, the object, the time, the
// number of heads and the heads sorted.
func Message(vault []byte, object change.ID, heads []change.ID, time int64) []byte {
	hs := sortedHeads(heads)
	b := make([]byte, 0, len(domain)+2+len(vault)+32+8+4+32*len(hs))
	b = append(b, domain...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(vault)))
	b = append(b, vault...)
	b = append(b, object[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(time))
	b = binary.BigEndian.AppendUint32(b, uint32(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func sortedHeads(heads []change.ID) []change.ID {
	if slices.IsSortedFunc(heads, cmpID) {
		return heads
	}
	hs := slices.Clone(heads)
	slices.SortFunc(hs, cmpID)
	return hs
}

func cmpID(a, b change.ID) int { return bytes.Compare(a[:], b[:]) }

// Sign signs a node's word for vault.
func Sign(key ed25519.PrivateKey, vault []byte, object change.ID, heads []change.ID, time int64) []byte {
	return ed25519.Sign(key, Message(vault, object, heads, time))
}

// ErrBadSignature is an acknowledgement its node did not sign (for this
// vault, object, heads and time).
var ErrBadSignature = errors.New("the acknowledgement's signature is not the node's")

// Verify checks that the node with public key pub signed a for vault.
func Verify(pub ed25519.PublicKey, vault []byte, a Ack) error {
	if len(pub) != ed25519.PublicKeySize || len(a.Sig) != ed25519.SignatureSize ||
		!ed25519.Verify(pub, Message(vault, a.Object, a.Heads, a.Time), a.Sig) {
		return ErrBadSignature
	}
	return nil
}

// Parents reads the parents of a stored change; ok is false when the
// change is not stored.
type Parents func(id change.ID) (parents []change.ID, ok bool, err error)

// Verdict is what comparing two words of one node comes to.
type Verdict uint8

// Verdicts.
const (
	Consistent Verdict = iota // the later word holds the earlier one
	Lie                       // it does not: the node lost or hid changes
	Unknown                   // the graph lacks changes to tell (yet)
)

// Contains says whether the causal closure of heads holds every change of
// of. It is Unknown only when some of heads is not in the graph: the
// graph holds every stored change's parents, so the closure of stored
// heads is all there, and a change it does not reach is not in it.
func Contains(parents Parents, heads, of []change.ID) (Verdict, error) {
	want := map[change.ID]bool{}
	for _, h := range of {
		want[h] = true
	}
	for _, h := range heads {
		delete(want, h)
	}
	if len(want) == 0 {
		return Consistent, nil
	}
	seen := map[change.ID]bool{}
	stack := slices.Clone(heads)
	for _, h := range heads {
		seen[h] = true
	}
	unknown := false
	for len(stack) > 0 && len(want) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ps, ok, err := parents(id)
		if err != nil {
			return Unknown, err
		}
		if !ok {
			unknown = true
			continue
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				delete(want, p)
				stack = append(stack, p)
			}
		}
	}
	switch {
	case len(want) == 0:
		return Consistent, nil
	case unknown:
		return Unknown, nil
	}
	return Lie, nil
}

// Check compares a node's new word with the one kept (both verified, of
// the same object): the later of the two by the node's time must hold the
// earlier one (at the same time, either may be the later). adopt says
// whether the new word replaces the kept one: it is later and holds it.
func Check(parents Parents, kept, next Ack) (v Verdict, adopt bool, err error) {
	switch {
	case next.Time > kept.Time:
		v, err = Contains(parents, next.Heads, kept.Heads)
		return v, v == Consistent, err
	case next.Time < kept.Time:
		v, err = Contains(parents, kept.Heads, next.Heads)
		return v, false, err
	}
	v, err = Contains(parents, next.Heads, kept.Heads)
	if err != nil || v == Consistent {
		return v, v == Consistent, err
	}
	w, err := Contains(parents, kept.Heads, next.Heads)
	if err != nil || w == Consistent {
		return w, false, err
	}
	if v == Unknown || w == Unknown {
		return Unknown, false, nil
	}
	return Lie, false, nil
}
