package httpapi

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
)

// TestErrorCodesDocumented checks that every code has a status and a row in
// docs/errors.md with that status, and that the docs list no other code.
func TestErrorCodesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for line := range strings.Lines(string(doc)) {
		cells := strings.Split(line, "|")
		if len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.TrimSpace(cells[2])
		}
	}
	if len(rows) != len(api.Codes) {
		t.Errorf("docs/errors.md lists %d codes, api.Codes has %d", len(rows), len(api.Codes))
	}
	for _, c := range api.Codes {
		status, ok := statuses[c]
		if !ok {
			t.Errorf("code %s has no HTTP status", c)
			continue
		}
		if got := rows[string(c)]; got != strconv.Itoa(status) {
			t.Errorf("docs/errors.md: %s is %q, code maps to %d", c, got, status)
		}
	}
	if len(statuses) != len(api.Codes) {
		t.Errorf("statuses maps %d codes, api.Codes has %d", len(statuses), len(api.Codes))
	}
}
