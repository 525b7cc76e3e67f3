package index

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Limits on a Filter, checked by Validate.
const (
	MaxFilterConds  = 16  // conditions in one Filter
	MaxFilterValues = 100 // values in one In list
	MaxFilterKey    = 256 // bytes in a metadata key
)

// ErrInvalid means an argument was rejected: a malformed Filter, or an
// Entry that cannot be indexed. Errors wrap it with the details.
var ErrInvalid = errors.New("index: invalid argument")

// Cond is one condition on a metadata key: exactly one of Eq and In is set.
// Eq matches a chunk whose value equals it; In matches a chunk whose value
// equals any of its values. Values are compared by type and value: the
// number 1 never equals the string "1" or the bool true.
type Cond struct {
	Eq any   `json:"eq,omitempty"`
	In []any `json:"in,omitempty"`
}

// Filter restricts a search to chunks whose metadata satisfies every
// condition (AND), keyed by metadata key. A nil or empty Filter matches every
// chunk; a condition on a key the chunk does not have does not match.
//
// Values are strings, float64 numbers or bools; Go integer types and float32
// are accepted too and compared as float64. A Filter that fails Validate
// matches nothing when passed to a search.
type Filter map[string]Cond

// Validate reports whether f is well formed: at most MaxFilterConds
// conditions, non-empty keys, exactly one of Eq and In per condition, In
// lists of 1 to MaxFilterValues values, and only supported value types.
func (f Filter) Validate() error {
	_, err := f.compile()
	return err
}

// cond is a validated condition: values normalised to string, float64 or
// bool.
type cond struct {
	key    string
	values []any
}

// compile validates f and normalises its values. Conditions come out in key
// order, so the first error reported is always the same one.
func (f Filter) compile() ([]cond, error) {
	if len(f) == 0 {
		return nil, nil
	}
	if len(f) > MaxFilterConds {
		return nil, fmt.Errorf("%w: filter has %d conditions, more than %d", ErrInvalid, len(f), MaxFilterConds)
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]cond, 0, len(f))
	for _, k := range keys {
		c := f[k]
		switch {
		case k == "":
			return nil, fmt.Errorf("%w: filter key is empty", ErrInvalid)
		case len(k) > MaxFilterKey:
			return nil, fmt.Errorf("%w: filter key is longer than %d bytes", ErrInvalid, MaxFilterKey)
		case c.Eq != nil && c.In != nil:
			return nil, fmt.Errorf("%w: filter %q: both eq and in are set", ErrInvalid, k)
		case c.Eq == nil && c.In == nil:
			return nil, fmt.Errorf("%w: filter %q: neither eq nor in is set", ErrInvalid, k)
		case c.In != nil && len(c.In) == 0:
			return nil, fmt.Errorf("%w: filter %q: in list is empty", ErrInvalid, k)
		case len(c.In) > MaxFilterValues:
			return nil, fmt.Errorf("%w: filter %q: in list has %d values, more than %d", ErrInvalid, k, len(c.In), MaxFilterValues)
		}
		vals := c.In
		if c.Eq != nil {
			vals = []any{c.Eq}
		}
		norm := make([]any, len(vals))
		for i, v := range vals {
			n, ok := scalar(v)
			if !ok {
				return nil, fmt.Errorf("%w: filter %q: unsupported value of type %T", ErrInvalid, k, v)
			}
			norm[i] = n
		}
		out = append(out, cond{key: k, values: norm})
	}
	return out, nil
}

// scalar normalises a metadata or filter value: strings, bools and finite
// numbers (as float64). NaN, which equals nothing, is rejected.
func scalar(v any) (any, bool) {
	var f float64
	switch v := v.(type) {
	case string, bool:
		return v, true
	case float64:
		f = v
	case float32:
		f = float64(v)
	case int:
		f = float64(v)
	case int8:
		f = float64(v)
	case int16:
		f = float64(v)
	case int32:
		f = float64(v)
	case int64:
		f = float64(v)
	case uint:
		f = float64(v)
	case uint8:
		f = float64(v)
	case uint16:
		f = float64(v)
	case uint32:
		f = float64(v)
	case uint64:
		f = float64(v)
	default:
		return nil, false
	}
	if math.IsNaN(f) {
		return nil, false
	}
	return f, true
}

// matches reports whether metadata m satisfies every condition of cs.
func matches(cs []cond, m map[string]any) bool {
	for _, c := range cs {
		v, ok := m[c.key]
		if !ok {
			return false
		}
		// Interface equality compares dynamic type, then value.
		if !slices.Contains(c.values, v) {
			return false
		}
	}
	return true
}
