package tenant

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"text/template"
)

// secretHeaders are request headers whose values are credentials: they may
// only be set through headerEnv, never written in a tenant file.
var secretHeaders = map[string]bool{
	"authorization":             true,
	"proxy-authorization":       true,
	"x-api-key":                 true,
	"api-key":                   true,
	"cf-aig-authorization":      true,
	"x-goog-api-key":            true,
	"ocp-apim-subscription-key": true,
}

// secretValue matches header values that look like credentials whatever the
// header is called.
var secretValue = regexp.MustCompile(`(?i)^(bearer\s|basic\s)|^(sk|pk|rk)-[A-Za-z0-9_-]{8,}|^ck_[A-Za-z0-9_]{8,}|^gh[pousr]_[A-Za-z0-9]{20,}|^xox[abp]-`)

// builtinProvider is always available and never configured.
const builtinProvider = "builtin"

// check applies the rules of a single tenant that a schema cannot express.
func check(file string, c *Config, opts Options) Problems {
	var ps Problems
	add := func(path, format string, args ...any) {
		ps = append(ps, Problem{file, path, fmt.Sprintf(format, args...)})
	}

	if _, ok := c.Providers[builtinProvider]; ok {
		add("/providers/builtin", "the builtin provider is always available and must not be configured")
	}

	if len(c.Public) > 0 && len(c.Hosts) == 0 {
		add("/public", "public routes need at least one entry in hosts")
	}

	if slices.Contains(c.Tools.Enabled, "classify_intent") && len(c.Tools.Intents) == 0 {
		add("/tools/intents", "classify_intent is enabled: list its labels in tools.intents")
	}

	ids := map[string]int{}
	hashes := map[string]int{}
	for i, k := range c.Keys {
		if j, ok := ids[k.ID]; ok {
			add(fmt.Sprintf("/keys/%d/id", i), "key id %q is also used by /keys/%d", k.ID, j)
		}
		ids[k.ID] = i
		if j, ok := hashes[k.Hash]; ok {
			add(fmt.Sprintf("/keys/%d/hash", i), "the same key is also listed as /keys/%d", j)
		}
		hashes[k.Hash] = i
		if k.Hash == HashKey(DevKey(c.ID)) && !k.Dev {
			add(fmt.Sprintf("/keys/%d", i), "this is the well-known development key %s: mark it \"dev\": true or replace it", DevKey(c.ID))
		}
		if k.Dev && !opts.AllowDevKeys {
			add(fmt.Sprintf("/keys/%d/dev", i), "development key %q is honoured only with --env dev: add a key with 'crispy key new %s', then remove this one with 'crispy key revoke %s %s'", k.ID, c.ID, c.ID, k.ID)
		}
	}

	for _, name := range slices.Sorted(maps.Keys(c.Providers)) {
		p := c.Providers[name]
		base := "/providers/" + name
		for _, h := range slices.Sorted(maps.Keys(p.Headers)) {
			v := p.Headers[h]
			if secretHeaders[strings.ToLower(h)] || secretValue.MatchString(v) {
				add(base+"/headers/"+h, "header %q carries a secret: put the name of an environment variable in headerEnv instead", h)
			}
		}
		if p.Type == "workersai" && p.BaseURL != "" && !strings.HasPrefix(p.BaseURL, "https://") {
			// Plain HTTP is allowed for local test servers only.
			if host := hostOf(p.BaseURL); host != "127.0.0.1" && host != "localhost" && host != "::1" {
				add(base+"/baseUrl", "workersai baseUrl must use https outside localhost")
			}
		}
		if p.Transport == TransportH1 && strings.HasPrefix(p.BaseURL, "https://") {
			add(base+"/transport", "transport %q carries plain http only; an https baseUrl always goes through net/http: remove transport", TransportH1)
		}
	}

	ps = append(ps, checkModels(file, c)...)

	if c.TTS.Provider != "" {
		p, ok := c.Providers[c.TTS.Provider]
		switch {
		case !ok:
			add("/tts/provider", "provider %q is not defined in providers", c.TTS.Provider)
		case p.Type != c.TTS.Adapter:
			add("/tts/provider", "adapter %q needs a provider of type %q, but %q is of type %q", c.TTS.Adapter, c.TTS.Adapter, c.TTS.Provider, p.Type)
		}
	}

	if len(c.TTS.Voices) > 0 {
		switch {
		case c.TTS.Adapter != "openai" && c.TTS.Adapter != "workersai":
			add("/tts/voices", "voices lists the voices of a remote adapter (openai, workersai); espeak lists its own")
		case c.TTS.Voice != "" && !slices.Contains(c.TTS.Voices, c.TTS.Voice):
			add("/tts/voice", "default voice %q is not in /tts/voices", c.TTS.Voice)
		}
	}
	if t := c.TTS; t.AsyncChars > 0 && t.MaxChars > 0 && t.AsyncChars > t.MaxChars {
		add("/tts/asyncChars", "asyncChars (%d) is above maxChars (%d): no text would become a job", t.AsyncChars, t.MaxChars)
	}

	if r := c.RAG; r.ChunkTokens > 0 && r.OverlapTokens >= r.ChunkTokens {
		add("/rag/overlapTokens", "overlapTokens (%d) must be less than chunkTokens (%d)", r.OverlapTokens, r.ChunkTokens)
	}
	if t := c.RAG.Template; t != "" {
		if _, err := template.New("rag").Parse(t); err != nil {
			add("/rag/template", "not a valid Go text/template: %v", err)
		}
	}
	if r := c.RAG; r.TopK > 0 && r.MaxTopK > 0 && r.TopK > r.MaxTopK {
		add("/rag/topK", "topK (%d) must not exceed maxTopK (%d)", r.TopK, r.MaxTopK)
	}
	for _, pair := range []struct {
		path string
		r    *Rate
	}{{"/limits/rate/tenant", c.Limits.Rate.Tenant}, {"/limits/rate/key", c.Limits.Rate.Key}, {"/limits/rate/ip", c.Limits.Rate.IP}} {
		if pair.r != nil && pair.r.Per.D() <= 0 {
			add(pair.path+"/per", "period must be greater than zero")
		}
	}
	return ps
}

// checkModels verifies that every model reference names a known provider or
// alias, and that aliases point at real models.
func checkModels(file string, c *Config) Problems {
	var ps Problems
	m := c.Models
	ref := func(path, r string) {
		prov, _, hasModel := strings.Cut(r, "/")
		if !hasModel {
			if _, ok := m.Aliases[r]; !ok {
				ps = append(ps, Problem{file, path, fmt.Sprintf("%q is neither provider/model nor an alias in /models/aliases", r)})
			}
			return
		}
		if prov == builtinProvider {
			return
		}
		if _, ok := c.Providers[prov]; !ok {
			ps = append(ps, Problem{file, path, fmt.Sprintf("provider %q is not defined in providers", prov)})
		}
	}
	choice := func(path string, mc *ModelChoice) {
		if mc == nil {
			return
		}
		ref(path+"/model", mc.Model)
		for i, f := range mc.Fallbacks {
			ref(fmt.Sprintf("%s/fallbacks/%d", path, i), f)
		}
	}
	choice("/models/chat", m.Chat)
	choice("/models/embedding", m.Embedding)
	for _, route := range slices.Sorted(maps.Keys(m.Routes)) {
		mc := m.Routes[route]
		choice("/models/routes/"+route, &mc)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Aliases)) {
		target := m.Aliases[name]
		path := "/models/aliases/" + name
		if !strings.Contains(target, "/") {
			ps = append(ps, Problem{file, path, fmt.Sprintf("alias %q must name provider/model, not another alias", name)})
			continue
		}
		ref(path, target)
	}
	for i, a := range m.Allow {
		ref(fmt.Sprintf("/models/allow/%d", i), a)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Pricing)) {
		path := "/models/pricing/" + strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
		if !strings.Contains(name, "/") {
			ps = append(ps, Problem{file, path, fmt.Sprintf("pricing key %q must be provider/model", name)})
			continue
		}
		ref(path, name)
	}
	return ps
}

// checkSet applies the rules that span tenants: a host and a key each belong
// to exactly one tenant. files[i] is the file of cfgs[i].
func checkSet(cfgs []*Config, files []string) Problems {
	var ps Problems
	hosts := map[string]string{}
	keys := map[string]string{}
	for i, c := range cfgs {
		for j, h := range c.Hosts {
			h = strings.ToLower(h)
			if other, ok := hosts[h]; ok && other != c.ID {
				ps = append(ps, Problem{files[i], fmt.Sprintf("/hosts/%d", j), fmt.Sprintf("host %q is also used by tenant %q", h, other)})
				continue
			}
			hosts[h] = c.ID
		}
		for j, k := range c.Keys {
			if other, ok := keys[k.Hash]; ok && other != c.ID {
				ps = append(ps, Problem{files[i], fmt.Sprintf("/keys/%d/hash", j), fmt.Sprintf("the same key is also configured for tenant %q", other)})
				continue
			}
			keys[k.Hash] = c.ID
		}
	}
	return ps
}

func hostOf(rawURL string) string {
	rest := rawURL[strings.Index(rawURL, "://")+3:]
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if h, _, err := net.SplitHostPort(rest); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(rest, "[]")
}
