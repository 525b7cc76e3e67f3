package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tailscale/hujson"

	"github.com/crispy-enigma/crispy/internal/schemaerr"
	"github.com/crispy-enigma/crispy/schema"
)

// FileName is the name of a tenant's config file inside its folder.
const FileName = "tenant.jsonc"

// MaxFileBytes bounds the size of a tenant config file.
const MaxFileBytes = 1 << 20

// Problem is one thing wrong with a tenant config: the file, the JSON Pointer
// of the offending value ("/" for the whole document) and what is wrong.
type Problem struct {
	File    string
	Path    string
	Message string
}

// String formats p as "file: /json/path: message".
func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.File, p.Path, p.Message)
}

// Problems is the error returned when config is invalid: every problem found,
// not only the first.
type Problems []Problem

// Error lists the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Options tune validation to the environment the server runs in.
type Options struct {
	// AllowDevKeys permits keys marked "dev": true. Only --env dev sets it.
	AllowDevKeys bool
	// Env, when set, is the environment whose differences apply: a
	// folder's tenant.<Env>.jsonc beside a tenant.jsonc is a JSON merge
	// patch (RFC 7386) over it (see EnvFileName).
	Env string
}

// EnvFileName returns the name of a tenant's patch for environment env:
// "tenant.<env>.jsonc".
func EnvFileName(env string) string { return "tenant." + env + ".jsonc" }

// ApplyEnvPatch merges patch, a JSONC object, into base, a JSONC tenant
// file, as an RFC 7386 JSON merge patch: members of the patch replace the
// base's, objects merge recursively, a null removes a member, arrays are
// replaced whole. The result is indented JSON (the base's comments do not
// survive a merge).
func ApplyEnvPatch(base, patch []byte) ([]byte, error) {
	b, err := hujson.Standardize(slices.Clone(base))
	if err != nil {
		return nil, fmt.Errorf("invalid JSONC: %s", strings.TrimPrefix(err.Error(), "hujson: "))
	}
	p, err := hujson.Standardize(slices.Clone(patch))
	if err != nil {
		return nil, fmt.Errorf("patch: invalid JSONC: %s", strings.TrimPrefix(err.Error(), "hujson: "))
	}
	if t := bytes.TrimSpace(p); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("patch: must be a JSON object")
	}
	merged, err := jsonpatch.MergePatch(b, p)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, merged, "", "  "); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// Load reads every <dir>/<id>/tenant.jsonc, validates each file against the
// schema and the semantic rules, then validates the set as a whole (unique
// hosts and keys across tenants). It returns the tenants sorted by ID, or a
// Problems error listing everything wrong. Folders without a tenant.jsonc are
// skipped; a dir with no tenants at all is an error.
func Load(dir string, opts Options) ([]*Config, error) {
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read tenants folder: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("read tenants folder: %s is not a folder", dir)
	}
	return LoadFS(os.DirFS(dir), dir, opts)
}

// LoadFS is Load over the root of fsys, a tenants folder; name is how the
// folder is called in problems ("name/<id>/tenant.jsonc").
func LoadFS(fsys fs.FS, name string, opts Options) ([]*Config, error) {
	cfgs, _, err := LoadFiles(fsys, name, opts)
	return cfgs, err
}

// File is one tenant's config file as read: the tenant's ID (its folder),
// how problems name the file, and its bytes.
type File struct {
	ID   string
	Name string
	Data []byte
}

// LoadFiles is LoadFS that also returns the files it validated, as read, in
// the order of the configs: what a server deploys to its store.
func LoadFiles(fsys fs.FS, name string, opts Options) ([]*Config, []File, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, nil, fmt.Errorf("read tenants folder: %s: %w", name, err)
	}
	var (
		files []File
		probs Problems
	)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		file := filepath.Join(name, e.Name(), FileName)
		data, err := readFile(fsys, path.Join(e.Name(), FileName))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			probs = append(probs, Problem{file, "/", err.Error()})
			continue
		}
		if opts.Env != "" {
			patch, err := readFile(fsys, path.Join(e.Name(), EnvFileName(opts.Env)))
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				probs = append(probs, Problem{filepath.Join(name, e.Name(), EnvFileName(opts.Env)), "/", err.Error()})
				continue
			default:
				merged, err := ApplyEnvPatch(data, patch)
				if err != nil {
					probs = append(probs, Problem{filepath.Join(name, e.Name(), EnvFileName(opts.Env)), "/", err.Error()})
					continue
				}
				file += "+" + EnvFileName(opts.Env)
				data = merged
			}
		}
		files = append(files, File{ID: e.Name(), Name: file, Data: data})
	}
	if len(files) == 0 && len(probs) == 0 {
		return nil, nil, fmt.Errorf("no tenants in %s: expected folders with a %s", name, FileName)
	}
	cfgs, ps := parseFiles(files, opts, func(f File, cfg *Config) Problems {
		if seed := cfg.RAG.Seed; seed != "" {
			if st, err := fs.Stat(fsys, path.Join(f.ID, seed)); err != nil || !st.IsDir() {
				return Problems{{f.Name, "/rag/seed", fmt.Sprintf("%s is not a folder", filepath.Join(name, f.ID, seed))}}
			}
		}
		return nil
	})
	probs = append(probs, ps...)
	if len(probs) > 0 {
		return nil, nil, probs
	}
	return cfgs, files, nil
}

// ParseFiles validates a set of tenant files, as LoadFS does a folder's:
// each file on its own (its ID must match the config's), then the set as a
// whole (unique hosts and keys across tenants). It returns the configs in
// the order of files, or a Problems error listing everything wrong. A
// server reading its configs from a store calls it with the active
// versions.
func ParseFiles(files []File, opts Options) ([]*Config, error) {
	cfgs, probs := parseFiles(files, opts, nil)
	if len(probs) > 0 {
		return nil, probs
	}
	return cfgs, nil
}

// parseFiles returns a config for each file (nil for one that fails the
// schema) and every problem found: each file's, with those of more, if
// not nil, then the set's.
func parseFiles(files []File, opts Options, more func(File, *Config) Problems) ([]*Config, Problems) {
	var (
		cfgs  = make([]*Config, len(files))
		valid []*Config
		names []string
		probs Problems
	)
	for i, f := range files {
		cfg, ps := Parse(f.Name, f.Data, opts)
		probs = append(probs, ps...)
		if cfg == nil {
			continue
		}
		if cfg.ID != f.ID {
			probs = append(probs, Problem{f.Name, "/id", fmt.Sprintf("id %q must equal the folder name %q", cfg.ID, f.ID)})
		}
		if more != nil {
			probs = append(probs, more(f, cfg)...)
		}
		cfgs[i] = cfg
		valid = append(valid, cfg)
		names = append(names, f.Name)
	}
	probs = append(probs, checkSet(valid, names)...)
	return cfgs, probs
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileBytes)
	}
	return data, nil
}

var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema.Tenant))
	if err != nil {
		return nil, fmt.Errorf("tenant schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	const url = "tenant.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("tenant schema: %w", err)
	}
	return c.Compile(url)
})

// Parse parses one tenant file (JSONC), validates it against the schema and
// the rules that concern a single tenant, and decodes it. It returns every
// problem found. The Config is nil when the file fails the schema; it is
// returned beside semantic problems so that Load can check the set, but only
// a Config without problems may be used.
func Parse(file string, data []byte, opts Options) (*Config, Problems) {
	std, err := hujson.Standardize(slices.Clone(data))
	if err != nil {
		return nil, Problems{{file, "/", "invalid JSONC: " + strings.TrimPrefix(err.Error(), "hujson: ")}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(std))
	if err != nil {
		return nil, Problems{{file, "/", "invalid JSON: " + err.Error()}}
	}
	sch, err := compiledSchema()
	if err != nil {
		return nil, Problems{{file, "/", err.Error()}}
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, Problems{{file, "/", err.Error()}}
		}
		return nil, schemaProblems(file, ve)
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		// The schema and the Go types disagree: a bug, reported plainly.
		return nil, Problems{{file, "/", "decode: " + err.Error()}}
	}
	return &cfg, check(file, &cfg, opts)
}

// schemaProblems flattens a validation error into one problem per failing
// leaf, sorted by path so that output is stable.
func schemaProblems(file string, ve *jsonschema.ValidationError) Problems {
	var ps Problems
	for _, l := range schemaerr.Leaves(ve) {
		ps = append(ps, Problem{file, l.Path, l.Message})
	}
	return ps
}
