package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestLanding checks GET /: a small HTML page, open to anyone, with a
// strict Content-Security-Policy, links to the probes and the OpenAI base
// URL, the list of doc pages, and nothing of any tenant, whoever asks.
func TestLanding(t *testing.T) {
	ts := newTestServer(t, true)
	for _, headers := range [][]string{nil, {"Authorization", "Bearer ck_dev_acme"}, {"Host", "acme.localhost"}, {"Authorization", "Bearer ck_wrong"}} {
		res := ts.do(t, "GET", "/", "", append([]string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}, headers...)...)
		if res.status != 200 || res.header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET / %v = %d %q %s", headers, res.status, res.header.Get("Content-Type"), res.raw)
		}
		for _, want := range []string{`href="/livez"`, `href="/readyz"`, "/v1", "docs/ai-gateway.md", "docs/tts.md", "Text to speech"} {
			if !strings.Contains(res.raw, want) {
				t.Errorf("GET / lacks %q:\n%s", want, res.raw)
			}
		}
		for _, leak := range []string{"acme", "globex", "ck_dev", "test"} { // "test" is the server's version
			if strings.Contains(strings.ToLower(res.raw), leak) {
				t.Errorf("GET / %v reveals %q:\n%s", headers, leak, res.raw)
			}
		}
		if strings.Contains(res.raw, "http://") || strings.Contains(res.raw, "https://") || strings.Contains(res.raw, "<script") {
			t.Errorf("GET / loads or links something outside the server:\n%s", res.raw)
		}
		if len(res.raw) > 4<<10 {
			t.Errorf("GET / is %d bytes, not tiny", len(res.raw))
		}
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("Content-Security-Policy = %q", csp)
		}
		// The page's one style element is allowed by its hash, nothing else.
		if m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(res.raw); m != nil {
			sum := sha256.Sum256([]byte(m[1]))
			if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q does not allow the page's style (%s)", csp, want)
			}
		}
		if res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("GET / lacks X-Content-Type-Options: nosniff")
		}
	}

	res := ts.do(t, "GET", "/", "", "Accept", "application/json")
	var data struct {
		Docs []struct {
			Path, Title string
		} `json:"docs"`
		Links map[string]string `json:"links"`
	}
	if res.status != 200 || !res.env.OK || json.Unmarshal(res.env.Data, &data) != nil {
		t.Fatalf("GET / as JSON = %d %s", res.status, res.raw)
	}
	if data.Links["livez"] != "/livez" || data.Links["readyz"] != "/readyz" || data.Links["openaiBaseUrl"] != "/v1" || len(data.Docs) == 0 {
		t.Errorf("GET / as JSON = %s", res.raw)
	}
	if strings.Contains(res.raw, "acme") {
		t.Errorf("GET / as JSON reveals a tenant: %s", res.raw)
	}

	// Only / itself: other unknown paths stay 404.
	if res := ts.do(t, "GET", "/index.html", ""); res.status != 404 {
		t.Errorf("GET /index.html = %d", res.status)
	}
	if res := ts.do(t, "POST", "/", ""); res.status != 405 {
		t.Errorf("POST / = %d, want 405", res.status)
	}
}

// TestLandingListsEveryDocPage keeps the landing page's list of doc pages in
// step with docs/.
func TestLandingListsEveryDocPage(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	var want []docPage
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		want = append(want, docPage{Path: "docs/" + filepath.Base(f), Title: strings.TrimPrefix(first, "# ")})
	}
	got := slices.Clone(docPages)
	slices.SortFunc(got, func(a, b docPage) int { return strings.Compare(a.Path, b.Path) })
	if !slices.Equal(got, want) {
		t.Errorf("docPages = %v\nwant %v", got, want)
	}
}
