package httpapi

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
)

// Page sizes of GET /audit: without limit, and the most a limit may ask.
const (
	defaultAuditPage = 100
	maxAuditPage     = 500
)

func (s *Server) needTools() error {
	if s.opts.Tools == nil {
		return api.Errorf(api.CodeUnavailable, "tools are not available on this server")
	}
	return nil
}

// toolsList answers GET /tools: the tools the caller may invoke, with their
// schemas, and the same in OpenAI's function-calling format.
func (s *Server) toolsList(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTools(); err != nil {
		return err
	}
	if err := checkQuery(r.URL.Query()); err != nil {
		return err
	}
	out := api.ToolList{Tools: []api.Tool{}, OpenAI: []api.OpenAIFunction{}}
	for _, t := range s.opts.Tools.Permitted(Caller(r)) {
		scopes := make([]string, len(t.Scopes))
		for i, sc := range t.Scopes {
			scopes[i] = string(sc)
		}
		out.Tools = append(out.Tools, api.Tool{
			Name: t.Name, Description: t.Description, Parameters: t.Args, Result: t.Result,
			Scopes: scopes, Writes: t.Writes, TimeoutMS: t.Timeout.Milliseconds(),
		})
		out.OpenAI = append(out.OpenAI, api.OpenAIFunction{Type: "function", Function: api.OpenAIFunctionSpec{Name: t.Name, Description: t.Description, Parameters: t.Args}})
	}
	return writeData(w, r, http.StatusOK, out)
}

// toolInvoke answers POST /tools/{name}/invoke with {"args": {...}}.
func (s *Server) toolInvoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.needTools(); err != nil {
		return err
	}
	var body api.ToolInvocation
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	name := r.PathValue("name")
	start := time.Now()
	out, err := s.opts.Tools.Invoke(r.Context(), Caller(r), name, body.Args, false)
	if err != nil {
		e := api.AsError(err)
		if ps, ok := e.Details["errors"].([]tools.Problem); ok && len(ps) > 0 {
			details := map[string]any{"path": "/args" + strings.TrimSuffix(ps[0].Path, "/")}
			for k, v := range e.Details {
				details[k] = v
			}
			e = e.WithDetails(details)
		}
		return e
	}
	return writeData(w, r, http.StatusOK, api.ToolResult{Tool: name, Result: out, LatencyMS: float64(time.Since(start).Microseconds()) / 1000})
}

// auditList answers GET /audit?from=&to=&tool=&limit=&cursor=: the
// tenant's tool invocations, newest first, a page at a time.
func (s *Server) auditList(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Audit == nil {
		return api.Errorf(api.CodeUnavailable, "the audit log is not available on this server")
	}
	id := Caller(r)
	if id.Key == nil || !id.Scopes().Has(tenant.ScopeAdmin) {
		return api.Errorf(api.CodeForbidden, "the audit log needs a key with the scope \"admin\"")
	}
	q := r.URL.Query()
	if err := checkQuery(q, "from", "to", "tool", "limit", "cursor"); err != nil {
		return err
	}
	bad := func(param, format string, args ...any) error {
		return api.Errorf(api.CodeInvalidRequest, param+": "+format, args...).WithDetails(map[string]any{"param": param})
	}
	f := store.AuditFilter{Tool: q.Get("tool")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return bad(p.name, "want a time in RFC 3339, such as 2026-03-01T00:00:00Z")
			}
			*p.dst = t
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return bad("from", "from must be before to")
	}
	limit, err := queryInt(q.Get("limit"), defaultAuditPage, 1, maxAuditPage)
	if err != nil {
		return bad("limit", "%v", err)
	}
	if c := q.Get("cursor"); c != "" {
		before, ok := parseCursor(c)
		if !ok {
			return bad("cursor", "not a cursor from a previous page")
		}
		f.Before = before
	}
	// One more than asked tells whether there is a next page.
	f.Limit = int(limit) + 1
	recs, err := s.opts.Audit.AuditRecords(r.Context(), id.Tenant.ID, f)
	if err != nil {
		return api.Internal(err)
	}
	page := api.AuditPage{Records: []api.AuditRecord{}}
	if len(recs) > int(limit) {
		recs = recs[:limit]
		page.Next = cursor(recs[len(recs)-1].ID)
	}
	for _, rec := range recs {
		page.Records = append(page.Records, api.AuditRecord{
			ID: strconv.FormatInt(rec.ID, 10), Time: rec.Time, Tenant: rec.Tenant.String(), RequestID: rec.RequestID, KeyID: rec.KeyID, Tool: rec.Tool,
			ArgsSHA256: rec.ArgsSHA256, Outcome: rec.Outcome, ErrorCode: rec.ErrorCode,
			LatencyMS: float64(rec.Latency.Microseconds()) / 1000, FromModel: rec.FromModel,
		})
	}
	return writeData(w, r, http.StatusOK, page)
}

// cursor encodes the position after a record: opaque to clients.
func cursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("audit:" + strconv.FormatInt(id, 10)))
}

func parseCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "audit:")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}
