package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// maxBodyBytes is the body limit for r: its tenant's limits.maxBodyBytes
// (the tenants' default for a request without a tenant).
func maxBodyBytes(r *http.Request) int64 {
	if t := Caller(r).Tenant; t != nil {
		return t.Config.Limits.MaxBodyBytes
	}
	return tenant.DefaultMaxBodyBytes
}

// decodeJSON decodes the request body into v, strictly: the body must be
// application/json, one JSON value, within the tenant's size limit, with no
// field that v does not have and no value of the wrong type. Every failure is
// an *api.Error whose details name the JSON Pointer of the offending value.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONWithin(w, r, maxBodyBytes(r), v)
}

// decodeJSONWithin is decodeJSON with a limit of its own on the body.
func decodeJSONWithin(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return api.Errorf(api.CodeUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
		}
	}
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	return decodeBytes(body, v)
}

// readBody reads a body of at most limit bytes: 413 above it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, bodyError(err)
	}
	return b, nil
}

func bodyError(err error) error {
	var slow *slowBodyError
	if errors.As(err, &slow) {
		return slow.apiError()
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return api.Errorf(api.CodePayloadTooLarge, "request body is larger than %d bytes", tooBig.Limit).WithDetails(map[string]any{"limit": tooBig.Limit})
	}
	return api.Errorf(api.CodeInvalidRequest, "could not read the request body: %v", err)
}

// decodeBytes is decodeJSON after the body has been read.
func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return api.Errorf(api.CodeInvalidRequest, "request body is empty: expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return api.Errorf(api.CodeInvalidRequest, "request body holds more than one JSON value")
		}
		return nil
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		offset := int64(len(body))
		if syntax != nil {
			offset = syntax.Offset
		}
		return api.Errorf(api.CodeInvalidRequest, "malformed JSON at byte %d", offset).
			WithDetails(map[string]any{"offset": offset})
	}
	// The value is well-formed JSON that does not fit v: find where.
	var tree any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&tree) == nil {
		if path, msg, ok := mismatch(tree, reflect.TypeOf(v), ""); ok {
			return api.Errorf(api.CodeInvalidRequest, "%s: %s", orRoot(path), msg).
				WithDetails(map[string]any{"path": orRoot(path)})
		}
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		path := "/" + strings.ReplaceAll(typeErr.Field, ".", "/")
		return api.Errorf(api.CodeInvalidRequest, "%s: expected %s, got %s", path, typeErr.Type, typeErr.Value).
			WithDetails(map[string]any{"path": path})
	}
	return api.Errorf(api.CodeInvalidRequest, "invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func orRoot(path string) string {
	if path == "" {
		return "/"
	}
	return path
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// mismatch walks a decoded JSON value beside the Go type it should fill and
// returns the JSON Pointer of the first value that does not fit: a field the
// type lacks or a value of the wrong kind. Objects are walked in sorted key
// order so that the answer is stable.
func mismatch(v any, t reflect.Type, path string) (string, string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return "", "", false // null fits anything
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return "", "", false // the type decides for itself
	}
	want := func(kind string) (string, string, bool) {
		return path, fmt.Sprintf("expected %s, got %s", kind, jsonKind(v)), true
	}
	switch t.Kind() {
	case reflect.Interface:
		return "", "", false
	case reflect.String:
		if _, ok := v.(string); !ok {
			return want("a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return want("a boolean")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return want("an integer")
		}
		if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			return path, fmt.Sprintf("expected an integer that fits %s, got %s", t.Kind(), n), true
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return want("a non-negative integer")
		}
		if _, err := strconv.ParseUint(n.String(), 10, t.Bits()); err != nil {
			return path, fmt.Sprintf("expected a non-negative integer that fits %s, got %s", t.Kind(), n), true
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			return want("a number")
		}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			if _, ok := v.(string); ok {
				return "", "", false // []byte as base64
			}
		}
		arr, ok := v.([]any)
		if !ok {
			return want("an array")
		}
		for i, e := range arr {
			if p, m, bad := mismatch(e, t.Elem(), path+"/"+strconv.Itoa(i)); bad {
				return p, m, bad
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return want("an object")
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if p, m, bad := mismatch(obj[k], t.Elem(), path+"/"+escapePointer(k)); bad {
				return p, m, bad
			}
		}
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(textUnmarshaler) {
			if _, ok := v.(string); !ok {
				return want("a string")
			}
			return "", "", false
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return want("an object")
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			ft, ok := fields[k]
			if !ok {
				ft, ok = fields[strings.ToLower(k)]
			}
			p := path + "/" + escapePointer(k)
			if !ok {
				return p, "unknown field", true
			}
			if p, m, bad := mismatch(obj[k], ft, p); bad {
				return p, m, bad
			}
		}
	}
	return "", "", false
}

// jsonFields maps the JSON names of t's fields (and, lowercased, for the
// case-insensitive match encoding/json allows) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
		if _, taken := fields[strings.ToLower(name)]; !taken {
			fields[strings.ToLower(name)] = f.Type
		}
	}
	return fields
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
