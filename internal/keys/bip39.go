package keys

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

//go:embed bip39_english.txt
var englishText string

// wordlistSHA256 is the SHA-256 of the canonical BIP39 english.txt; checked
// at start so a damaged list can never produce phrases other wallets reject.
const wordlistSHA256 = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"

var (
	wordlist  []string
	wordIndex map[string]int
)

func init() {
	if fmt.Sprintf("%x", sha256.Sum256([]byte(englishText))) != wordlistSHA256 {
		panic("keys: embedded BIP39 word list is damaged")
	}
	wordlist = strings.Split(strings.TrimSpace(englishText), "\n")
	wordIndex = make(map[string]int, len(wordlist))
	for i, w := range wordlist {
		wordIndex[w] = i
	}
}

// PhraseWords is the number of words in a recovery phrase (128 bits of entropy).
const PhraseWords = 12

// ErrPhrase is wrapped by every error about a malformed recovery phrase.
var ErrPhrase = errors.New("invalid recovery phrase")

// NewPhrase returns a fresh 12-word phrase from 128 bits of system randomness.
func NewPhrase() (string, error) {
	entropy := make([]byte, 16)
	if _, err := rand.Read(entropy); err != nil {
		return "", fmt.Errorf("new phrase: %w", err)
	}
	return PhraseFromEntropy(entropy), nil
}

// PhraseFromEntropy encodes 16 bytes of entropy as 12 BIP39 words.
func PhraseFromEntropy(entropy []byte) string {
	if len(entropy) != 16 {
		panic("keys: phrase entropy must be 16 bytes")
	}
	sum := sha256.Sum256(entropy)
	// 128 bits of entropy + 4 checksum bits = 132 bits = 12 words of 11 bits.
	bits := make([]byte, 17)
	copy(bits, entropy)
	bits[16] = sum[0] & 0xf0
	words := make([]string, PhraseWords)
	for i := range words {
		idx := 0
		for b := 0; b < 11; b++ {
			pos := i*11 + b
			bit := (bits[pos/8] >> (7 - uint(pos%8))) & 1
			idx = idx<<1 | int(bit)
		}
		words[i] = wordlist[idx]
	}
	return strings.Join(words, " ")
}

// NormalizePhrase lowercases a phrase and collapses its whitespace.
func NormalizePhrase(phrase string) string {
	return strings.Join(strings.Fields(strings.ToLower(phrase)), " ")
}

// CheckPhrase validates word count, every word and the BIP39 checksum; the
// error says which of those failed, and which word is unknown.
func CheckPhrase(phrase string) error {
	words := strings.Fields(NormalizePhrase(phrase))
	if len(words) != PhraseWords {
		return fmt.Errorf("%w: it has %d words, a mycel phrase has %d", ErrPhrase, len(words), PhraseWords)
	}
	bits := make([]byte, 17)
	for i, w := range words {
		idx, ok := wordIndex[w]
		if !ok {
			return fmt.Errorf("%w: word %d (%q) is not in the BIP39 English word list", ErrPhrase, i+1, w)
		}
		for b := 0; b < 11; b++ {
			if idx&(1<<(10-b)) != 0 {
				pos := i*11 + b
				bits[pos/8] |= 1 << (7 - uint(pos%8))
			}
		}
	}
	sum := sha256.Sum256(bits[:16])
	if sum[0]&0xf0 != bits[16]&0xf0 {
		return fmt.Errorf("%w: the checksum does not match; a word is mistyped or the words are out of order", ErrPhrase)
	}
	return nil
}

// Seed is the BIP39 seed of a phrase (PBKDF2-HMAC-SHA512, 2048 rounds, empty
// passphrase). The phrase must pass CheckPhrase.
func Seed(phrase string) []byte {
	seed, err := pbkdf2.Key(sha512.New, NormalizePhrase(phrase), []byte("mnemonic"), 2048, 64)
	if err != nil {
		panic(err) // only for parameters out of FIPS bounds, which these are not
	}
	return seed
}
