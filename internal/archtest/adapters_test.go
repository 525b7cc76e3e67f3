package archtest_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/crispy-enigma/crispy"

// adapters are the packages that implement a port for one dependency (a
// model provider, a speech engine, a set of tools). They never import each
// other, directly or through other packages: what two adapters share
// lives in a package that is not an adapter (internal/provider,
// internal/provider/prompt, internal/prose, ...), and the composition root
// (internal/app) wires them together.
var adapters = []string{
	"internal/provider/builtin",
	"internal/provider/openai",
	"internal/provider/workersai",
	"internal/tts",
	"internal/tools/builtin",
}

// shared are the packages under internal/provider that are not adapters.
// A new package there must be added to one list or the other.
var shared = []string{
	"internal/provider/prompt",
	"internal/provider/providertest",
}

// TestAdaptersDoNotImportAdapters fails when an adapter package imports
// another adapter package, directly or through packages of this module
// (test files aside: a test may use another adapter as a fixture).
func TestAdaptersDoNotImportAdapters(t *testing.T) {
	root := moduleRoot(t)
	imports := moduleImports(t, root)
	for _, a := range adapters {
		if _, ok := imports[a]; !ok {
			t.Errorf("adapter %s is not a package of the module: update the list", a)
		}
	}
	for _, a := range adapters {
		// Walk a's imports breadth first, keeping the path to each.
		via := map[string]string{a: ""}
		queue := []string{a}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, q := range imports[p] {
				if _, seen := via[q]; seen {
					continue
				}
				via[q] = p
				if slices.Contains(adapters, q) {
					t.Errorf("adapter %s imports adapter %s: %s", a, q, chain(via, q))
					continue
				}
				queue = append(queue, q)
			}
		}
	}
}

// TestProviderPackagesAreClassified fails when a package under
// internal/provider is in neither list.
func TestProviderPackagesAreClassified(t *testing.T) {
	for p := range moduleImports(t, moduleRoot(t)) {
		if strings.HasPrefix(p, "internal/provider/") && !slices.Contains(adapters, p) && !slices.Contains(shared, p) {
			t.Errorf("%s is neither an adapter nor a shared package: add it to one list in %s", p, "internal/archtest")
		}
	}
}

// chain writes the import path from the adapter to p.
func chain(via map[string]string, p string) string {
	parts := []string{p}
	for via[p] != "" {
		p = via[p]
		parts = append(parts, p)
	}
	slices.Reverse(parts)
	return strings.Join(parts, " -> ")
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", dir, err)
	}
	return dir
}

// moduleImports maps each package of the module under internal/ (by path
// relative to the module) to the packages of the module its non-test
// files import.
func moduleImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(file string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(file, ".go") || strings.HasSuffix(file, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(file))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		for _, spec := range f.Imports {
			ip, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if rest, ok := strings.CutPrefix(ip, module+"/"); ok && !slices.Contains(out[pkg], rest) {
				out[pkg] = append(out[pkg], rest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range out {
		slices.Sort(out[p])
	}
	return out
}
