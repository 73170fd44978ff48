package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// Official BIP39 test vector (trezor/python-mnemonic vectors.json, passphrase "TREZOR").
func TestPhraseVector(t *testing.T) {
	entropy, _ := hex.DecodeString("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f")
	want := "legal winner thank year wave sausage worth useful legal winner thank yellow"
	if got := PhraseFromEntropy(entropy); got != want {
		t.Fatalf("phrase = %q, want %q", got, want)
	}
	if err := CheckPhrase(want); err != nil {
		t.Fatal(err)
	}
	zero := PhraseFromEntropy(make([]byte, 16))
	if zero != "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about" {
		t.Fatalf("zero phrase = %q", zero)
	}
}

func TestCheckPhraseRejects(t *testing.T) {
	good := "legal winner thank year wave sausage worth useful legal winner thank yellow"
	for _, tc := range []struct{ phrase, want string }{
		{"legal winner thank", "has 3 words"},
		{strings.Replace(good, "wave", "wavy", 1), `word 5 ("wavy") is not in the BIP39`},
		{strings.Replace(good, "yellow", "year", 1), "checksum does not match"},
	} {
		err := CheckPhrase(tc.phrase)
		if !errors.Is(err, ErrPhrase) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckPhrase(%q) = %v, want error containing %q", tc.phrase, err, tc.want)
		}
	}
	if err := CheckPhrase("  LEGAL winner thank year wave sausage worth useful legal winner thank yellow\n"); err != nil {
		t.Errorf("case and spacing should not matter: %v", err)
	}
}

func TestDeriveIsStableAndDistinct(t *testing.T) {
	p, err := NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	a, err := VaultFromPhrase(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := VaultFromPhrase(strings.ToUpper(p))
	if a.ID != b.ID || a.ReadKey != b.ReadKey || !a.Account.Equal(b.Account) {
		t.Fatal("same phrase gave different vaults")
	}
	if a.ID == a.ReadKey || a.ReadKey == a.DiscoveryKey || bytes.Equal(a.ID[:], a.Account.Seed()) {
		t.Fatal("derived secrets are not distinct")
	}
	o1, o2 := ObjectKey(a.ReadKey, []byte("x")), ObjectKey(a.ReadKey, []byte("y"))
	if o1 == o2 {
		t.Fatal("object keys collide")
	}
}

func TestSealOpen(t *testing.T) {
	var k [32]byte
	k[0] = 1
	n, ct, err := Seal(k, []byte("hello"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := Open(k, n, ct, []byte("ad"))
	if err != nil || string(pt) != "hello" {
		t.Fatalf("open = %q, %v", pt, err)
	}
	ct[0] ^= 1
	if _, err := Open(k, n, ct, []byte("ad")); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered open = %v", err)
	}
}
