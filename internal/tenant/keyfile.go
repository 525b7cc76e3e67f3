package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// The edits below change the keys of a tenant.jsonc in place: they work on
// the file's syntax tree, so that its comments, order and layout stay as
// they were, and a new key is laid out like the keys around it.

// ErrNoKey is returned by the key edits for a key ID the file does not have.
var ErrNoKey = errors.New("no such key")

// AddKey returns data, a tenant.jsonc, with k appended to its keys.
func AddKey(data []byte, k Key) ([]byte, error) {
	v, keys, err := parseKeys(data)
	if err != nil {
		return nil, err
	}
	if keyIndex(keys, k.ID) >= 0 {
		return nil, fmt.Errorf("key id %q is already used", k.ID)
	}
	elem, err := hujson.Parse(keyLine(k))
	if err != nil {
		return nil, err
	}
	indent := "\n    "
	if n := len(keys.Elements); n > 0 {
		indent = "\n" + lastIndent(keys.Elements[n-1].BeforeExtra)
	} else {
		keys.AfterExtra = hujson.Extra("\n  ") // "keys": [] opens up
	}
	elem.BeforeExtra = hujson.Extra(indent)
	if n := len(keys.Elements); n > 0 && keys.Elements[n-1].AfterExtra != nil {
		elem.AfterExtra = hujson.Extra{} // keep the trailing comma
	}
	keys.Elements = append(keys.Elements, elem)
	return v.Pack(), nil
}

// RemoveKey returns data, a tenant.jsonc, without the key with ID id and
// the comments before it. It refuses to remove a tenant's last key.
func RemoveKey(data []byte, id string) ([]byte, error) {
	v, keys, err := parseKeys(data)
	if err != nil {
		return nil, err
	}
	i := keyIndex(keys, id)
	if i < 0 {
		return nil, fmt.Errorf("%w %q", ErrNoKey, id)
	}
	if len(keys.Elements) == 1 {
		return nil, fmt.Errorf("key %q is the tenant's only key: add another first", id)
	}
	last := i == len(keys.Elements)-1
	trailing := keys.Elements[i].AfterExtra != nil
	keys.Elements = append(keys.Elements[:i], keys.Elements[i+1:]...)
	if last {
		n := len(keys.Elements)
		if trailing && keys.Elements[n-1].AfterExtra == nil {
			keys.Elements[n-1].AfterExtra = hujson.Extra{}
		} else if !trailing {
			keys.Elements[n-1].AfterExtra = nil
		}
	}
	return v.Pack(), nil
}

// SetKeyExpires returns data, a tenant.jsonc, with the key with ID id set to
// expire at t.
func SetKeyExpires(data []byte, id string, t time.Time) ([]byte, error) {
	v, keys, err := parseKeys(data)
	if err != nil {
		return nil, err
	}
	i := keyIndex(keys, id)
	if i < 0 {
		return nil, fmt.Errorf("%w %q", ErrNoKey, id)
	}
	obj := keys.Elements[i].Value.(*hujson.Object)
	value := hujson.Value{BeforeExtra: hujson.Extra(" "), Value: hujson.String(t.UTC().Format(time.RFC3339))}
	for j := range obj.Members {
		if memberName(obj.Members[j]) == "expires" {
			value.AfterExtra = obj.Members[j].Value.AfterExtra
			obj.Members[j].Value = value
			return v.Pack(), nil
		}
	}
	name := hujson.Value{Value: hujson.String("expires")}
	if n := len(obj.Members); n > 0 {
		before := obj.Members[n-1].Name.BeforeExtra
		if bytes.Contains(before, []byte("\n")) {
			name.BeforeExtra = hujson.Extra("\n" + lastIndent(before))
		} else {
			name.BeforeExtra = hujson.Extra(" ")
		}
		if obj.Members[n-1].Value.AfterExtra != nil {
			value.AfterExtra = hujson.Extra{} // keep the trailing comma
		}
	}
	obj.Members = append(obj.Members, hujson.ObjectMember{Name: name, Value: value})
	return v.Pack(), nil
}

// parseKeys parses a tenant file and finds its keys array.
func parseKeys(data []byte) (hujson.Value, *hujson.Array, error) {
	v, err := hujson.Parse(data)
	if err != nil {
		return v, nil, fmt.Errorf("invalid JSONC: %w", err)
	}
	m := v.Find("/keys")
	if m == nil {
		return v, nil, errors.New("the file has no keys array")
	}
	keys, ok := m.Value.(*hujson.Array)
	if !ok {
		return v, nil, errors.New("keys is not an array")
	}
	for _, e := range keys.Elements {
		if _, ok := e.Value.(*hujson.Object); !ok {
			return v, nil, errors.New("keys holds something other than objects")
		}
	}
	return v, keys, nil
}

// keyIndex returns the position of the key with ID id, or -1.
func keyIndex(keys *hujson.Array, id string) int {
	for i, e := range keys.Elements {
		for _, m := range e.Value.(*hujson.Object).Members {
			if memberName(m) == "id" {
				if lit, ok := m.Value.Value.(hujson.Literal); ok && lit.Kind() == '"' && lit.String() == id {
					return i
				}
			}
		}
	}
	return -1
}

func memberName(m hujson.ObjectMember) string {
	if lit, ok := m.Name.Value.(hujson.Literal); ok {
		return lit.String()
	}
	return ""
}

// lastIndent returns the blanks at the start of the last line of extra.
func lastIndent(extra hujson.Extra) string {
	s := string(extra)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s[:len(s)-len(strings.TrimLeft(s, " \t"))]
}

// keyLine writes k as one line of JSON with a space after each separator,
// as the example tenants lay out short objects.
func keyLine(k Key) []byte {
	var b bytes.Buffer
	field := func(name string, v any) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		j, _ := json.Marshal(v)
		if s, ok := v.([]string); ok {
			parts := make([]string, len(s))
			for i := range s {
				p, _ := json.Marshal(s[i])
				parts[i] = string(p)
			}
			j = []byte("[" + strings.Join(parts, ", ") + "]")
		}
		fmt.Fprintf(&b, "%q: %s", name, j)
	}
	field("id", k.ID)
	field("hash", k.Hash)
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	field("scopes", scopes)
	if k.Description != "" {
		field("description", k.Description)
	}
	if !k.Budget.isZero() {
		field("budget", k.Budget)
	}
	if !k.Expires.IsZero() {
		field("expires", k.Expires.UTC().Format(time.RFC3339))
	}
	return []byte("{ " + b.String() + " }")
}

func (b Budget) isZero() bool { return b == Budget{} }
