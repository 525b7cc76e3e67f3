package tools

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Canonical returns the canonical form of a JSON value, the one the audit
// log hashes: the value parsed and encoded again by encoding/json with
// object keys sorted, no insignificant white space, numbers as written
// (their literal text is kept, so 1.0 and 1 differ) and no HTML escaping.
// Duplicate keys keep their last value, as encoding/json does. Input that
// is not one JSON value is returned unchanged.
func Canonical(raw []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	if _, err := dec.Token(); err == nil {
		return raw // more than one value
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return raw
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// ArgsHash returns the hex SHA-256 of the canonical form of args.
func ArgsHash(args []byte) string {
	sum := sha256.Sum256(Canonical(args))
	return hex.EncodeToString(sum[:])
}
