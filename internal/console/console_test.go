package console_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/crispy-enigma/crispy/internal/console"
)

func newConsole(t *testing.T) *console.Console {
	t.Helper()
	c, err := console.New("test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestPages: every page is served as HTML with the console's security
// headers, each names its own script area, and none holds an inline
// script, an event-handler attribute or a resource from another origin.
func TestPages(t *testing.T) {
	c := newConsole(t)
	for _, p := range console.Pages {
		t.Run(p.Name, func(t *testing.T) {
			rec := get(t, c, p.Path)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET %s = %d", p.Path, rec.Code)
			}
			h := rec.Header()
			for k, want := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Content-Security-Policy": console.ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			checkHTML(t, rec.Body.String(), p)
		})
	}
}

func checkHTML(t *testing.T, body string, p console.Page) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	labels := map[string]bool{}
	var controls []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attrs := map[string]string{}
			for _, a := range n.Attr {
				attrs[a.Key] = a.Val
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s %s=...>: no inline event handlers", n.Data, a.Key)
				}
				if (a.Key == "src" || a.Key == "href") && (strings.HasPrefix(a.Val, "http") || strings.HasPrefix(a.Val, "//")) {
					t.Errorf("<%s %s=%q>: nothing from another origin", n.Data, a.Key, a.Val)
				}
				if a.Key == "style" {
					t.Errorf("<%s style=...>: no inline style (the policy refuses it)", n.Data)
				}
			}
			if id := attrs["id"]; id != "" {
				if ids[id] {
					t.Errorf("id %q is used twice", id)
				}
				ids[id] = true
			}
			switch n.Data {
			case "script":
				if attrs["src"] == "" || n.FirstChild != nil {
					t.Errorf("inline script: every script is a file of the console")
				}
			case "style":
				t.Errorf("inline <style>")
			case "label":
				labels[attrs["for"]] = true
			case "input", "select", "textarea":
				if attrs["type"] != "hidden" && attrs["type"] != "submit" {
					controls = append(controls, attrs["id"])
				}
			}
			if n.Data == "body" && attrs["data-page"] != p.Name && p.Name != "" {
				t.Errorf("body data-page = %q, want %q", attrs["data-page"], p.Name)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for _, id := range controls {
		if id == "" || !labels[id] {
			t.Errorf("a control (id %q) has no <label for>", id)
		}
	}
}

// TestAssets: every script a page may load is served with a JavaScript
// type, and ETags make a reload cheap.
func TestAssets(t *testing.T) {
	c := newConsole(t)
	paths := []string{"/console/static/console.js", "/console/static/chart.js", "/console/static/console.css", "/console/static/icon.svg"}
	for _, p := range console.Pages {
		paths = append(paths, "/console/static/pages/"+p.Name+".js")
	}
	for _, p := range paths {
		rec := get(t, c, p)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d", p, rec.Code)
			continue
		}
		ct := rec.Header().Get("Content-Type")
		if strings.HasSuffix(p, ".js") && !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Errorf("%s: no ETag", p)
			continue
		}
		if again := get(t, c, p, "If-None-Match", etag); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("%s with If-None-Match: %d, %d bytes", p, again.Code, again.Body.Len())
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	c := newConsole(t)
	for _, p := range []string{"/console/nope", "/console/static/nope.js", "/console/static/../console.go", "/console/templates/layout.html"} {
		rec := get(t, c, p)
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
		if rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", p)
		}
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("POST", "/console/", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/ = %d, want 405", rec.Code)
	}
}

// TestScriptsBuildNoHTML: the console's scripts never turn strings into
// markup or code, so tenant content can only ever be text.
func TestScriptsBuildNoHTML(t *testing.T) {
	forbidden := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment|DOMParser|setAttribute\(\s*['"]on`)
	key := regexp.MustCompile(`[?&](key|token|authorization)=`)
	n := 0
	err := fs.WalkDir(os.DirFS("static"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".js" {
			return err
		}
		n++
		b, err := os.ReadFile(filepath.Join("static", p))
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := forbidden.FindString(line); m != "" {
				t.Errorf("static/%s:%d: %s", p, i+1, m)
			}
			if m := key.FindString(line); m != "" {
				t.Errorf("static/%s:%d: a credential in a URL (%s)", p, i+1, m)
			}
		}
		return nil
	})
	if err != nil || n < 10 {
		t.Fatalf("read %d scripts: %v", n, err)
	}
}
