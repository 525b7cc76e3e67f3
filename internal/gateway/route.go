package gateway

import (
	"slices"
	"strings"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Routes are the families of calls a tenant can route to different models.
const (
	RouteChat        = "chat"        // POST /chat
	RouteCompletions = "completions" // POST /v1/chat/completions
	RouteSearch      = "search"
	RouteTools       = "tools"
	RouteRAG         = "rag"
	RouteEmbedding   = "embedding" // embeddings: /v1/embeddings and the knowledge base
)

// Target is one model to try: the provider name in the tenant's config and
// the provider's own model name.
type Target struct {
	Ref      string // "provider/model", as the tenant wrote it (aliases resolved)
	Provider string
	Model    string
}

func target(ref string) Target {
	p, m, _ := strings.Cut(ref, "/")
	return Target{Ref: ref, Provider: p, Model: m}
}

// resolve returns the models to try, in order, for a call on route by a
// tenant, with requested the model the caller named ("" for none).
//
// A caller that names no model, or names the route's own primary model (as
// the OpenAI SDKs must), gets the route's primary and its fallbacks. Any
// other named model must be in the tenant's allowlist, by reference or
// alias, and is tried alone: the caller chose it.
func resolve(cfg *tenant.Config, route, requested string) ([]Target, error) {
	m := cfg.Models
	choice := routeChoice(m, route)
	if requested != "" && dealias(m, requested) != dealias(m, choice.Model) {
		ref, ok := allowed(m, requested)
		if !ok {
			return nil, api.Errorf(api.CodeModelNotAllowed, "model %q is not allowed for this tenant", requested).
				WithDetails(map[string]any{"model": requested, "allowed": AllowedModels(cfg, route)})
		}
		return []Target{target(ref)}, nil
	}
	targets := make([]Target, 0, 1+len(choice.Fallbacks))
	for _, ref := range append([]string{choice.Model}, choice.Fallbacks...) {
		targets = append(targets, target(dealias(m, ref)))
	}
	return targets, nil
}

// routeChoice returns the model choice of a route: its own, or the tenant's
// chat model (both defaults of a loaded config when not configured).
func routeChoice(m tenant.Models, route string) tenant.ModelChoice {
	if route == RouteEmbedding {
		return *m.Embedding
	}
	if c, ok := m.Routes[route]; ok {
		return c
	}
	return *m.Chat
}

// allowed reports whether the tenant lets a request name model, and the
// provider/model reference it stands for.
func allowed(m tenant.Models, model string) (string, bool) {
	want := dealias(m, model)
	for _, a := range m.Allow {
		if a == model || dealias(m, a) == want {
			return want, strings.Contains(want, "/")
		}
	}
	return "", false
}

func dealias(m tenant.Models, ref string) string {
	if target, ok := m.Aliases[ref]; ok {
		return target
	}
	return ref
}

// PrimaryModel returns the model a call on route gets when it names none.
func PrimaryModel(cfg *tenant.Config, route string) string {
	return dealias(cfg.Models, routeChoice(cfg.Models, route).Model)
}

// AllowedModels lists the models a caller of route may name: the route's
// primary model, then the tenant's allowlist.
func AllowedModels(cfg *tenant.Config, route string) []string {
	out := []string{routeChoice(cfg.Models, route).Model}
	for _, a := range cfg.Models.Allow {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// DefaultContextWindow is the context size of a model whose tenant lists none.
const DefaultContextWindow = 8192

// ContextWindow returns the smallest context window, in tokens, of the
// models a call on route naming model may reach, so that a prompt sized for
// it fits whichever model answers.
func ContextWindow(cfg *tenant.Config, route, model string) (int, error) {
	targets, err := resolve(cfg, route, model)
	if err != nil {
		return 0, err
	}
	window := 0
	for _, t := range targets {
		w, ok := cfg.Models.ContextWindows[t.Ref]
		if !ok {
			w = DefaultContextWindow
		}
		if window == 0 || w < window {
			window = w
		}
	}
	return window, nil
}
