package httpapi

import (
	"net/http"
	"slices"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// handlerFunc is a handler that returns its error instead of writing it; the
// route turns the error into the envelope.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one API endpoint and what it requires of a request.
type route struct {
	pattern string       // ServeMux pattern, also the "route" label of logs and metrics
	family  string       // route family, as named in a tenant's "public" list
	scope   tenant.Scope // scope the key must hold; "" for any key of the tenant
	open    bool         // served without tenant resolution (probes)
	// operator routes are open to tenants' resolution but need an
	// operator credential, checked by withTenant.
	operator bool
	openai   bool // errors in OpenAI's format instead of the envelope
	h        handlerFunc
}

// ServeHTTP runs the handler and writes its error, if any, as the envelope.
func (rt *route) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := rt.h(w, r); err != nil {
		writeError(w, r, err)
	}
}

// routes lists every endpoint of the API. GET /metrics is not one of them:
// it is served by MetricsHandler, on the operator listener only.
func (s *Server) routes() []*route {
	return []*route{
		{pattern: "GET /{$}", open: true, h: s.landing},
		{pattern: "GET /livez", open: true, h: s.livez},
		{pattern: "GET /readyz", open: true, h: s.readyz},
		{pattern: "GET /health", family: "health", h: s.health},
		// "me" is no family a tenant can make public: it needs a key.
		{pattern: "GET /me", family: "me", h: s.me},
		// The web console: static pages and assets, no tenant data; its
		// scripts call the API with the key the user signs in with.
		{pattern: "GET /console", open: true, h: s.consoleRedirect},
		{pattern: "GET /console/", open: true, h: s.console},
		{pattern: "GET /usage", family: "usage", scope: tenant.ScopeUsageRead, h: s.usage},

		{pattern: "POST /chat", family: "chat", scope: tenant.ScopeChat, h: s.chatSend},
		{pattern: "GET /chat/{sessionId}/history", family: "chat", scope: tenant.ScopeChat, h: s.chatHistory},
		{pattern: "DELETE /chat/{sessionId}", family: "chat", scope: tenant.ScopeChat, h: s.chatDelete},

		{pattern: "POST /documents", family: "documents", scope: tenant.ScopeDocumentsWrite, h: s.documentsPost},
		{pattern: "GET /documents", family: "documents", scope: tenant.ScopeDocumentsRead, h: s.documentsList},
		{pattern: "GET /documents/{id...}", family: "documents", scope: tenant.ScopeDocumentsRead, h: s.documentGet},
		{pattern: "DELETE /documents/{id...}", family: "documents", scope: tenant.ScopeDocumentsWrite, h: s.documentDelete},
		{pattern: "GET /jobs/{id}", family: "documents", scope: tenant.ScopeDocumentsRead, h: s.jobGet},
		{pattern: "POST /retrieve", family: "retrieve", scope: tenant.ScopeSearch, h: s.retrieve},
		{pattern: "POST /search", family: "search", scope: tenant.ScopeSearch, h: s.search},

		{pattern: "GET /tools", family: "tools", scope: tenant.ScopeTools, h: s.toolsList},
		{pattern: "POST /tools/{name}/invoke", family: "tools", scope: tenant.ScopeTools, h: s.toolInvoke},
		// "audit" is no family a tenant can make public.
		{pattern: "GET /audit", family: "audit", scope: tenant.ScopeAdmin, h: s.auditList},
		{pattern: "POST /tts", family: "tts", scope: tenant.ScopeTTS, h: s.ttsSpeak},
		{pattern: "GET /tts/voices", family: "tts", scope: tenant.ScopeTTS, h: s.ttsVoices},
		{pattern: "GET /tts/jobs/{id}", family: "tts", scope: tenant.ScopeTTS, h: s.ttsJob},

		{pattern: "POST /v1/chat/completions", family: "chat", scope: tenant.ScopeChat, openai: true, h: s.chatCompletions},
		{pattern: "POST /v1/embeddings", family: "chat", scope: tenant.ScopeChat, openai: true, h: s.embeddings},
		{pattern: "GET /v1/models", family: "chat", openai: true, h: s.models},
		{pattern: "GET /v1/models/{model...}", family: "chat", openai: true, h: s.model},
		{pattern: "POST /v1/audio/speech", family: "tts", scope: tenant.ScopeTTS, openai: true, h: s.audioSpeech},
	}
}

// Routes returns the pattern of every route the server serves, as logs and
// metrics name them: the API's, the operator API's, and any a test added.
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range slices.Concat(s.routes(), s.operatorRoutes(), s.opts.extra) {
		out = append(out, rt.pattern)
	}
	return out
}
