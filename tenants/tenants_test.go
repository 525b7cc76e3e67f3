package tenants_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/tenants"
)

// TestExamplesHoldOnlyTheExamples checks that the embedded tenants are
// exactly acme and globex, whatever else this folder holds: a tenant added
// here by 'crispy tenant new' is not embedded.
func TestExamplesHoldOnlyTheExamples(t *testing.T) {
	entries, err := fs.ReadDir(tenants.Examples, ".")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, tenants.IDs) {
		t.Errorf("embedded tenants = %v, want %v", got, tenants.IDs)
	}
	docs, err := fs.Glob(tenants.Examples, "acme/docs/*.md")
	if err != nil || len(docs) == 0 {
		t.Errorf("acme's seed documents = %v, %v; want some", docs, err)
	}
}

// testReadsTenantsFolder matches a test that reads the repository's
// tenants folder by a quoted relative path, such as ../../tenants/acme.
var testReadsTenantsFolder = regexp.MustCompile(`"(\.\./)+tenants(/[^"]*)?"`)

// TestNoTestReadsTheTenantsFolder keeps every test of the module on the
// embedded examples: a test that read ./tenants from disk would see the
// tenants a user adds with 'crispy tenant new' and fail.
func TestNoTestReadsTheTenantsFolder(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "data") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := testReadsTenantsFolder.Find(b); m != nil {
			t.Errorf("%s reads the tenants folder (%s); load tenants.Examples instead", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
