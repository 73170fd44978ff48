// Package keys turns a recovery phrase into the secrets of a vault and holds the
// primitives built on them: BIP39 phrases, HKDF derivation with distinct labels,
// ed25519 signing and XChaCha20-Poly1305 sealing.
//
// Everything secret about a vault is derived from its 12-word phrase; a device
// adds only its own random signing key. Nothing here does I/O.
package keys
