// Package tools is the tool capability: tools described by JSON Schemas, a
// registry of them, and a dispatcher that decides in code, never by a
// model, whether a caller may run one. Every invocation, through the API
// or asked for by a model, passes the same checks in the same order
// (lookup, enabled for the tenant, scopes of the key, argument schema) and
// leaves an audit record, whatever its outcome.
//
// The builtin tools live in the subpackage builtin.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// DefaultTimeout is the timeout of a tool that sets none.
const DefaultTimeout = 10 * time.Second

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Tool is one action a tenant can expose to its callers and to models.
type Tool struct {
	// Name identifies the tool in config, URLs and model tool calls.
	Name        string
	Description string
	// Args and Result are the JSON Schemas (2020-12) of the arguments and
	// of the result. Args must describe an object, as OpenAI's function
	// calling requires.
	Args, Result json.RawMessage
	// Scopes are the scopes a key must hold, every one of them.
	Scopes []tenant.Scope
	// Writes says the tool changes tenant data.
	Writes bool
	// Timeout bounds one run; 0 means DefaultTimeout.
	Timeout time.Duration
	// Run does the work. It gets arguments that have passed Args and
	// returns a value that must pass Result once encoded. It runs as the
	// caller who invokes it: for a model's tool call, the caller of the
	// request that called the model, never with more.
	Run func(ctx context.Context, c tenant.Caller, args json.RawMessage) (any, error)

	args, result *jsonschema.Schema
}

// Registry holds the tools a server knows, by name.
type Registry struct {
	byName map[string]*Tool
	names  []string // sorted
}

// NewRegistry checks and compiles the tools' schemas.
func NewRegistry(tools ...*Tool) (*Registry, error) {
	r := &Registry{byName: map[string]*Tool{}}
	for _, t := range tools {
		if !namePattern.MatchString(t.Name) {
			return nil, fmt.Errorf("tools: invalid tool name %q", t.Name)
		}
		if _, dup := r.byName[t.Name]; dup {
			return nil, fmt.Errorf("tools: tool %q registered twice", t.Name)
		}
		if t.Run == nil {
			return nil, fmt.Errorf("tools: tool %q has no Run", t.Name)
		}
		var err error
		if t.args, err = compile(t.Name+".args.json", t.Args); err != nil {
			return nil, fmt.Errorf("tools: %s: arguments schema: %w", t.Name, err)
		}
		var top struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(t.Args, &top); err != nil || top.Type != "object" {
			return nil, fmt.Errorf("tools: %s: arguments schema must be of type object", t.Name)
		}
		if t.result, err = compile(t.Name+".result.json", t.Result); err != nil {
			return nil, fmt.Errorf("tools: %s: result schema: %w", t.Name, err)
		}
		if t.Timeout <= 0 {
			t.Timeout = DefaultTimeout
		}
		r.byName[t.Name] = t
		r.names = append(r.names, t.Name)
	}
	slices.Sort(r.names)
	return r, nil
}

// MustRegistry is NewRegistry that panics on error, for tools defined in
// code.
func MustRegistry(tools ...*Tool) *Registry {
	r, err := NewRegistry(tools...)
	if err != nil {
		panic(err)
	}
	return r
}

func compile(url string, schema json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// Lookup returns the tool called name.
func (r *Registry) Lookup(name string) (*Tool, bool) {
	t, ok := r.byName[name]
	return t, ok
}

// Names returns the names of every tool, sorted.
func (r *Registry) Names() []string { return slices.Clone(r.names) }

// Problem is one way a JSON value fails a schema: the JSON Pointer of the
// value and what is wrong with it.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// errNotJSON is returned by Validate for input that is not one JSON value.
var errNotJSON = errors.New("not a JSON value")

// ValidateArgs checks args against the tool's argument schema and returns
// every failing path, sorted; none when args are valid.
func (t *Tool) ValidateArgs(args []byte) ([]Problem, error) { return validate(t.args, args) }

func validate(s *jsonschema.Schema, data []byte) ([]Problem, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotJSON, err)
	}
	err = s.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	return problems(ve), nil
}

// Decode decodes arguments that have passed their schema into v. Integers
// written with a fraction or an exponent ("2.0", "1e1"), which JSON Schema
// counts as integers but encoding/json does not put in an int, are written
// plainly first. A failure is invalid_request.
func Decode(args []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return api.Errorf(api.CodeInvalidRequest, "arguments: %v", err)
	}
	b, err := json.Marshal(plainIntegers(tree))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "arguments: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func plainIntegers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = plainIntegers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = plainIntegers(e)
		}
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return x
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return json.Number(strconv.FormatInt(int64(f), 10))
		}
	}
	return v
}
