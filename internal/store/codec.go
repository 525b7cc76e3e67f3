package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Encodings of document metadata and chunk heading paths shared by the SQL
// backends, which keep both as JSON text.

// EncodeMetadata returns the JSON of a document's metadata, "{}" when it
// has none, or ErrInvalid when a value cannot be encoded (a NaN or an
// infinity).
func EncodeMetadata(m map[string]any) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("%w: metadata: %w", ErrInvalid, err)
	}
	return string(b), nil
}

// DecodeMetadata decodes what EncodeMetadata encoded: nil when the object
// is empty.
func DecodeMetadata(b []byte) (map[string]any, error) {
	if len(b) == 0 || string(b) == "{}" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// EncodeHeadingPath returns the JSON array of a heading path, "[]" when it
// is empty.
func EncodeHeadingPath(path []string) (string, error) {
	if len(path) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(path)
	return string(b), err
}

// DecodeHeadingPath decodes what EncodeHeadingPath encoded: nil when the
// array is empty.
func DecodeHeadingPath(b []byte) ([]string, error) {
	if len(b) == 0 || string(b) == "[]" {
		return nil, nil
	}
	// A fast path for the usual array of strings without an escape, as
	// json.Marshal writes it: none of them holds a quote, so the strings
	// are what lies between the separators ",".
	if n := len(b); n >= 4 && b[0] == '[' && b[1] == '"' && b[n-2] == '"' && b[n-1] == ']' && bytes.IndexByte(b, '\\') < 0 {
		return strings.Split(string(b[2:n-2]), `","`), nil
	}
	var path []string
	if err := json.Unmarshal(b, &path); err != nil {
		return nil, err
	}
	if len(path) == 0 {
		return nil, nil
	}
	return path, nil
}

// CheckOrdinals returns ErrInvalid when two chunks have the same ordinal,
// which a backend's key on (tenant, document, ordinal) would refuse.
func CheckOrdinals(chunks []StoredChunk) error {
	seen := make(map[int]int, len(chunks))
	for i, c := range chunks {
		if j, ok := seen[c.Ordinal]; ok {
			return fmt.Errorf("%w: chunks %d and %d have the same ordinal %d", ErrInvalid, j, i, c.Ordinal)
		}
		seen[c.Ordinal] = i
	}
	return nil
}
