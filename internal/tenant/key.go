package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// KeyPrefix starts every API key, so that keys are easy to recognise in
// secret scanners and never confused with other tokens.
const KeyPrefix = "ck_"

// DevKey returns the well-known development key of tenant id, "ck_dev_<id>".
// It is honoured only by a server running with --env dev.
func DevKey(id string) string { return KeyPrefix + "dev_" + id }

// NewKey returns a new random API key: "ck_" followed by 48 hex digits
// (192 bits from crypto/rand).
func NewKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return KeyPrefix + hex.EncodeToString(b)
}

// HashKey returns the form in which key is stored in tenant config:
// "sha256:" followed by the lowercase hex SHA-256 of the key.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// FreeKeyID returns an ID for a new key that none of keys has: "k" and the
// day of now (UTC), with a suffix when that is taken.
func FreeKeyID(keys []Key, now time.Time) string {
	base := "k" + now.UTC().Format("20060102")
	id := base
	for n := 2; slices.ContainsFunc(keys, func(k Key) bool { return k.ID == id }); n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	return id
}
