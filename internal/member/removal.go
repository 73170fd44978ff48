package member

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"mycel/internal/keys"
	"mycel/internal/pb"
)

const removalContext = "mycel/remove-object/v1\n"

// removalBody is what a request to remove an object from a node signs:
// the vault, the object, whether it is a restore, and its time.
func removalBody(vault keys.VaultID, object []byte, restore bool, timeMs int64) []byte {
	b := make([]byte, 0, len(removalContext)+32+32+1+8)
	b = append(b, removalContext...)
	b = append(b, vault[:]...)
	b = append(b, object...)
	if restore {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return binary.BigEndian.AppendUint64(b, uint64(timeMs))
}

// SignRemoval makes a device's request to a node to remove an object of
// the vault from its store (restore: to take it back).
func SignRemoval(device ed25519.PrivateKey, vault keys.VaultID, object [32]byte, restore bool, at time.Time) *pb.RemoveObject {
	ms := at.UnixMilli()
	return &pb.RemoveObject{Object: object[:], Restore: restore, TimeMs: ms,
		Signature: ed25519.Sign(device, removalBody(vault, object[:], restore, ms))}
}

// VerifyRemoval checks that a request was signed by device for this vault.
// (Whether device is a member is the log's to say: see IsMember.)
func VerifyRemoval(device ed25519.PublicKey, vault keys.VaultID, req *pb.RemoveObject) error {
	switch {
	case len(req.Object) != 32:
		return errors.New("the request names no object")
	case req.TimeMs < 0 || req.TimeMs > maxTimeMs:
		return fmt.Errorf("its time (%d ms since 1970) is outside the years 1970 to 9999", req.TimeMs)
	case len(device) != ed25519.PublicKeySize || len(req.Signature) != ed25519.SignatureSize ||
		!ed25519.Verify(device, removalBody(vault, req.Object, req.Restore, req.TimeMs), req.Signature):
		return errors.New("the request's signature is not its device's")
	}
	return nil
}
