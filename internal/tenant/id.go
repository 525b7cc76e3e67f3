// Package tenant holds the tenant configuration: its types, the JSON Schema
// that defines it, the loader and validator for tenant folders, the registry
// of loaded tenants and the resolver that maps a request to exactly one of them.
package tenant

import (
	"fmt"
	"regexp"
)

// idPattern is the shape of a tenant ID: it is used in URLs, file names,
// metric labels and storage namespaces, so it is kept short and plain.
var idPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

// ID identifies a tenant. Its zero value is not a valid ID: the only ways to
// get one are ParseID and MustID, so a store that receives an ID can trust its
// shape, and checks IsZero to refuse the zero value.
type ID struct {
	s string
}

// ParseID returns the ID for s, or an error when s is not a valid tenant ID.
func ParseID(s string) (ID, error) {
	if !idPattern.MatchString(s) {
		return ID{}, fmt.Errorf("invalid tenant id %q: want 2-63 characters of a-z, 0-9 and '-', starting with a letter", s)
	}
	return ID{s: s}, nil
}

// MustID is like ParseID but panics on an invalid ID. It is meant for tests
// and constants.
func MustID(s string) ID {
	id, err := ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// String returns the ID as text.
func (id ID) String() string { return id.s }

// IsZero reports whether id is the zero value, which names no tenant.
func (id ID) IsZero() bool { return id.s == "" }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.s), nil }

// UnmarshalText implements encoding.TextUnmarshaler, validating the ID.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
