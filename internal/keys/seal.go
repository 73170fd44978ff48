package keys

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// NonceSize is the size of an XChaCha20-Poly1305 nonce; random nonces of this
// size never collide in practice, so no counter state is needed.
const NonceSize = chacha20poly1305.NonceSizeX

// ErrOpen means a sealed payload failed authentication: wrong key or tampered.
var ErrOpen = errors.New("decryption failed: wrong key or tampered data")

// Seal encrypts plaintext with key under a fresh random nonce, binding ad.
// It returns nonce and ciphertext separately so the envelope can carry both.
func Seal(key [32]byte, plaintext, ad []byte) (nonce, ciphertext []byte, err error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, nil, fmt.Errorf("seal: %w", err)
	}
	nonce = make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("seal: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, plaintext, ad), nil
}

// Open reverses Seal.
func Open(key [32]byte, nonce, ciphertext, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("open: nonce is %d bytes, want %d", len(nonce), NonceSize)
	}
	pt, err := aead.Open(nil, nonce, ciphertext, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
