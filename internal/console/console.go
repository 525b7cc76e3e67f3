// Package console is the web console: the pages in which a tenant, signed
// in with one of its API keys, tries models, searches, manages documents,
// tools and speech and reads its usage, and in which an operator, signed in
// with an operator credential, manages tenants.
//
// The pages hold no tenant data. They are rendered once, at start, from
// html/template, and their scripts (static, embedded, no inline script)
// call the API with the key the user signed in with, kept in the
// browser's session storage and sent as a bearer token: what a page shows
// is what that key may read through the API, nothing more, and a request
// another site makes the browser send carries no credential, so cross-site
// request forgery has nothing to use. Scripts build the DOM with
// textContent only, so tenant content (a document may hold HTML) is always
// text.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed templates static
var files embed.FS

// Prefix is the path under which the console is served.
const Prefix = "/console/"

// Page is one page of the console.
type Page struct {
	Name  string // template and script name
	Path  string // URL path
	Title string
	// Label is the page's name in the navigation; "" for a page reached
	// from another (a document, a tenant).
	Label string
	// Area is "tenant" or "operator": which credential the page needs;
	// "" for the sign-in page.
	Area string
	// Needs is the scope a tenant key needs for the page ("" any).
	Needs string
}

// Pages are the console's pages, in the navigation's order.
var Pages = []Page{
	{Name: "signin", Path: Prefix, Title: "Sign in"},
	{Name: "chat", Path: Prefix + "chat", Title: "Chat", Label: "Chat", Area: "tenant", Needs: "chat"},
	{Name: "search", Path: Prefix + "search", Title: "Search", Label: "Search", Area: "tenant", Needs: "search"},
	{Name: "documents", Path: Prefix + "documents", Title: "Documents", Label: "Documents", Area: "tenant", Needs: "documents:read"},
	{Name: "document", Path: Prefix + "documents/view", Title: "Document", Area: "tenant", Needs: "documents:read"},
	{Name: "usage", Path: Prefix + "usage", Title: "Usage", Label: "Usage", Area: "tenant", Needs: "usage:read"},
	{Name: "tools", Path: Prefix + "tools", Title: "Tools", Label: "Tools", Area: "tenant", Needs: "tools"},
	{Name: "audit", Path: Prefix + "audit", Title: "Audit log", Label: "Audit", Area: "tenant", Needs: "admin"},
	{Name: "speech", Path: Prefix + "speech", Title: "Speech", Label: "Speech", Area: "tenant", Needs: "tts"},
	{Name: "operator", Path: Prefix + "operator", Title: "Tenants", Label: "Tenants", Area: "operator"},
	{Name: "tenant", Path: Prefix + "operator/tenant", Title: "Tenant", Area: "operator"},
}

// ContentSecurityPolicy is sent with every page and asset: scripts and
// styles from this origin only (no inline script, no eval), requests to
// this origin only, audio from blobs the page made, no framing, no plugins,
// no forms posted elsewhere, and no string ever turned into markup or code
// (Trusted Types with no policy: innerHTML and its kin throw).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// asset is a static file, with its ETag.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Console is the http.Handler of the console.
type Console struct {
	pages    map[string]*asset // by path
	assets   map[string]*asset // by path under static/
	notFound *asset
}

// New renders the pages and indexes the assets. version is shown in the
// pages' footer.
func New(version string) (*Console, error) {
	c := &Console{pages: map[string]*asset{}, assets: map[string]*asset{}}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		c.assets[Prefix+p] = newAsset(b, ct)
		return nil
	})
	if err != nil {
		return nil, err
	}
	layout, err := template.ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	render := func(p Page, file string) (*asset, error) {
		t, err := template.Must(layout.Clone()).ParseFS(files, "templates/"+file)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, "layout", view{Page: p, Nav: Pages, Version: version}); err != nil {
			return nil, fmt.Errorf("console page %s: %w", p.Name, err)
		}
		return newAsset(b.Bytes(), "text/html; charset=utf-8"), nil
	}
	for _, p := range Pages {
		a, err := render(p, p.Name+".html")
		if err != nil {
			return nil, err
		}
		c.pages[p.Path] = a
	}
	if c.notFound, err = render(Page{Name: "notfound", Title: "Not found"}, "notfound.html"); err != nil {
		return nil, err
	}
	return c, nil
}

// view is what the layout renders.
type view struct {
	Page
	Nav     []Page
	Version string
}

func newAsset(b []byte, ct string) *asset {
	sum := sha256.Sum256(b)
	return &asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// ServeHTTP serves a page or an asset, with the console's security headers.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, status := c.pages[r.URL.Path], http.StatusOK
	if a == nil && strings.HasPrefix(r.URL.Path, Prefix+"static/") {
		a = c.assets[r.URL.Path]
	}
	if a == nil {
		a, status = c.notFound, http.StatusNotFound
	}
	h.Set("Content-Type", a.contentType)
	// Revalidated on every load (cheap: 304 by ETag), so that a new
	// version of the server is never mixed with cached scripts of an old one.
	h.Set("Cache-Control", "no-cache")
	if status == http.StatusOK {
		h.Set("ETag", a.etag)
		if match := r.Header.Get("If-None-Match"); match != "" && match == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Length", fmt.Sprint(len(a.body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}
