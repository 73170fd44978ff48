package keys

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HKDF labels. Each secret has its own, so knowing one reveals nothing of the
// others; changing a label changes every vault, so they are frozen.
const (
	labelAccount   = "mycel/v1/account-signing-key"
	labelVaultID   = "mycel/v1/vault-id\n"
	labelReadKey   = "mycel/v1/vault-read-key"
	labelDiscovery = "mycel/v1/lan-discovery-key"
	labelObjectKey = "mycel/v1/object-key"
	labelNameKey   = "mycel/v1/device-name-key"
	labelChunkKey  = "mycel/v1/file-chunk-key"
	labelChunkCut  = "mycel/v1/file-chunk-boundaries"
)

// VaultID names a vault. It is public (the node routes by it): the hash of
// the account public key, so anyone holding the membership log, which starts
// with that key, can check the log belongs to the vault without a secret.
type VaultID [32]byte

// Short is the first 12 hex characters, for messages.
func (id VaultID) Short() string { return hex.EncodeToString(id[:6]) }

// VaultIDOf is the vault id of an account public key.
func VaultIDOf(account ed25519.PublicKey) VaultID {
	return sha256.Sum256(append([]byte(labelVaultID), account...))
}

// Vault holds every secret derived from a recovery phrase.
type Vault struct {
	Account      ed25519.PrivateKey // signs the membership log
	ID           VaultID
	ReadKey      [32]byte // root of every content key
	DiscoveryKey [32]byte // keys LAN discovery tokens
}

// DeriveVault derives a vault's secrets from a BIP39 seed.
func DeriveVault(seed []byte) (*Vault, error) {
	v := &Vault{}
	acct, err := derive(seed, labelAccount, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	v.Account = ed25519.NewKeyFromSeed(acct)
	v.ID = VaultIDOf(v.AccountPublic())
	for _, d := range []struct {
		label string
		dst   []byte
	}{{labelReadKey, v.ReadKey[:]}, {labelDiscovery, v.DiscoveryKey[:]}} {
		k, err := derive(seed, d.label, 32)
		if err != nil {
			return nil, err
		}
		copy(d.dst, k)
	}
	return v, nil
}

// VaultFromPhrase checks a phrase and derives its vault.
func VaultFromPhrase(phrase string) (*Vault, error) {
	if err := CheckPhrase(phrase); err != nil {
		return nil, err
	}
	return DeriveVault(Seed(phrase))
}

// AccountPublic is the public half of the account key.
func (v *Vault) AccountPublic() ed25519.PublicKey { return v.Account.Public().(ed25519.PublicKey) }

// ObjectKey is the content key of one object: HKDF(read key, object id).
func ObjectKey(readKey [32]byte, objectID []byte) [32]byte {
	var k [32]byte
	b, err := hkdf.Key(sha256.New, readKey[:], objectID, labelObjectKey, 32)
	if err != nil {
		panic(err) // only fails for lengths out of range, which 32 is not
	}
	copy(k[:], b)
	return k
}

// NameKey seals device names in the membership log.
func NameKey(readKey [32]byte) [32]byte {
	var k [32]byte
	b, err := hkdf.Key(sha256.New, readKey[:], nil, labelNameKey, 32)
	if err != nil {
		panic(err)
	}
	copy(k[:], b)
	return k
}

// ChunkKey is the root of the keys that seal file chunks: each chunk's key
// is HKDF(ChunkKey, SHA-256 of its plaintext), so the same bytes seal alike
// within a vault (they dedupe) and unlike in any other.
func ChunkKey(readKey [32]byte) [32]byte { return subkey(readKey, labelChunkKey) }

// ChunkCutKey keys where files are cut into chunks, so that the sizes of a
// known file's chunks do not identify it across vaults.
func ChunkCutKey(readKey [32]byte) [32]byte { return subkey(readKey, labelChunkCut) }

func subkey(readKey [32]byte, label string) [32]byte {
	var k [32]byte
	b, err := hkdf.Key(sha256.New, readKey[:], nil, label, 32)
	if err != nil {
		panic(err)
	}
	copy(k[:], b)
	return k
}

func derive(seed []byte, label string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, seed, nil, label, n)
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", label, err)
	}
	return k, nil
}
