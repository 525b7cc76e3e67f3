package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"mime"
	"net/http"
	"strings"
)

// docPage is one page of the documentation, by its path in the repository.
type docPage struct {
	Path  string `json:"path"`
	Title string `json:"title"`
}

// docPages are the pages of docs/, in reading order; a test keeps the list
// in step with the folder.
var docPages = []docPage{
	{"docs/architecture.md", "Architecture"},
	{"docs/tenants.md", "Tenants"},
	{"docs/ai-gateway.md", "AI gateway"},
	{"docs/streaming.md", "Streaming"},
	{"docs/sessions.md", "Sessions"},
	{"docs/rag.md", "Knowledge base and grounded answers"},
	{"docs/search.md", "Search"},
	{"docs/tools.md", "Tools"},
	{"docs/tts.md", "Text to speech"},
	{"docs/rate-limiting.md", "Rate limiting"},
	{"docs/scale-out.md", "Scale-out"},
	{"docs/operations.md", "Operations: deploy, drift, rollback, keys"},
	{"docs/deploy.md", "Deploying crispy"},
	{"docs/credentials.md", "Credentials"},
	{"docs/observability.md", "Observability"},
	{"docs/console.md", "Web console"},
	{"docs/errors.md", "Errors and the response envelope"},
}

// landingStyle is the page's only style, allowed by its hash.
const landingStyle = `body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em}code{background:#f3f3f3;padding:0 .2em}`

var landingTemplate = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Crispy Enigma</title><style>{{.Style}}</style></head><body>
<h1>Crispy Enigma</h1>
<p>A tenant-first AI platform. Every API call needs a tenant key: <code>Authorization: Bearer ck_...</code>.</p>
<p>OpenAI SDKs: set the base URL to this server's address followed by <code>/v1</code>, and the key to a tenant key.</p>
<p>In a browser: the <a href="/console/">web console</a>, signed in with a tenant key or an operator credential.</p>
<p>Probes: <a href="/livez">/livez</a> <a href="/readyz">/readyz</a></p>
<h2>Documentation</h2>
<p>In the repository:</p>
<ul>{{range .Docs}}
<li><code>{{.Path}}</code> {{.Title}}</li>{{end}}
</ul>
</body></html>
`))

// landingPage and landingCSP are rendered once: the page holds nothing of
// the request, the tenants or the server's version.
var landingPage, landingCSP = func() ([]byte, string) {
	var b bytes.Buffer
	if err := landingTemplate.Execute(&b, struct {
		Style template.CSS
		Docs  []docPage
	}{landingStyle, docPages}); err != nil {
		panic(err)
	}
	sum := sha256.Sum256([]byte(landingStyle))
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return b.Bytes(), csp
}()

// landingLinks is the JSON form of the page.
type landingLinks struct {
	Name  string            `json:"name"`
	Docs  []docPage         `json:"docs"`
	Links map[string]string `json:"links"`
}

// landing answers GET /, open to anyone: a small page that says what the
// server is and where to read more, or the same links as an envelope for
// a client that asks for JSON. It reveals no tenant.
func (s *Server) landing(w http.ResponseWriter, r *http.Request) error {
	if wantsJSON(r.Header.Get("Accept")) {
		return writeData(w, r, http.StatusOK, landingLinks{
			Name: "Crispy Enigma", Docs: docPages,
			Links: map[string]string{"livez": "/livez", "readyz": "/readyz", "openaiBaseUrl": "/v1"},
		})
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", landingCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(landingPage)
	return nil
}

// wantsJSON reports whether an Accept header names JSON and not HTML.
func wantsJSON(accept string) bool {
	var json, html bool
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			json = true
		case mt == "text/html":
			html = true
		}
	}
	return json && !html
}
