package httpapi

import (
	"net/http"
	"strings"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
)

// me answers GET /me: the caller's tenant, key and scopes, the chat models
// the tenant allows and the capabilities it turns on. It holds nothing the
// key could not learn by trying, and nothing secret.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	c := Caller(r)
	cfg := c.Tenant.Config
	out := api.Me{
		Tenant: c.Tenant.ID.String(), Name: cfg.Name, KeyID: c.KeyID(),
		Scopes: []string{}, Models: gateway.AllowedModels(cfg, gateway.RouteCompletions),
		Features: api.Features{
			RAG:   cfg.RAG.Enabled,
			TTS:   s.opts.TTS != nil && cfg.TTS.Adapter != "" && !strings.EqualFold(cfg.TTS.Adapter, "disabled"),
			Tools: append([]string{}, cfg.Tools.Enabled...),
		},
	}
	for _, sc := range c.Scopes() {
		out.Scopes = append(out.Scopes, string(sc))
	}
	if out.Models == nil {
		out.Models = []string{}
	}
	return writeData(w, r, http.StatusOK, out)
}
