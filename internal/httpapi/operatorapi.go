package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Operator is the backend of the operator API (/operator/v1/...): the
// deployed tenant configs, managed with operator credentials. Its errors
// are *api.Error or are answered as internal errors.
type Operator interface {
	// Authenticate returns the ID of the operator whose credential key
	// is, or false.
	Authenticate(key string) (id string, ok bool)
	Tenants(ctx context.Context) (*api.OperatorTenantList, error)
	Tenant(ctx context.Context, id string) (*api.OperatorTenant, error)
	History(ctx context.Context, id string, limit int) (*api.OperatorHistory, error)
	Deploy(ctx context.Context, operator, id string, req api.OperatorDeployRequest) (*api.OperatorDeployResult, error)
	Rollback(ctx context.Context, operator, id string, req api.OperatorRollbackRequest) (*api.OperatorDeployResult, error)
	Undeploy(ctx context.Context, operator, id, message string) (*api.OperatorDeployResult, error)
	Secrets(names []string) api.OperatorSecrets
	NewKey(ctx context.Context, operator, id string, req api.OperatorKeyRequest) (*api.OperatorKeyResult, error)
	RevokeKey(ctx context.Context, operator, id, keyID, message string) (*api.OperatorDeployResult, error)
	Drift(ctx context.Context) (*api.OperatorDrift, error)
}

// MaxOperatorBody bounds a request body of the operator API: a tenant
// config (1 MiB) in JSON, with room for its escaping.
const MaxOperatorBody = 4 << 20

// operatorRoutes are the operator API's routes. They are open (no tenant
// is resolved); withTenant checks the operator credential instead.
func (s *Server) operatorRoutes() []*route {
	return []*route{
		{pattern: "GET /operator/v1/tenants", open: true, operator: true, h: s.opTenants},
		{pattern: "GET /operator/v1/tenants/{id}", open: true, operator: true, h: s.opTenant},
		{pattern: "GET /operator/v1/tenants/{id}/history", open: true, operator: true, h: s.opHistory},
		{pattern: "POST /operator/v1/tenants/{id}/deploy", open: true, operator: true, h: s.opDeploy},
		{pattern: "POST /operator/v1/tenants/{id}/rollback", open: true, operator: true, h: s.opRollback},
		{pattern: "DELETE /operator/v1/tenants/{id}", open: true, operator: true, h: s.opUndeploy},
		{pattern: "GET /operator/v1/secrets", open: true, operator: true, h: s.opSecrets},
		{pattern: "POST /operator/v1/tenants/{id}/keys", open: true, operator: true, h: s.opNewKey},
		{pattern: "DELETE /operator/v1/tenants/{id}/keys/{keyId}", open: true, operator: true, h: s.opRevokeKey},
		{pattern: "GET /operator/v1/tenants/{id}/usage", open: true, operator: true, h: s.opUsage},
		{pattern: "GET /operator/v1/drift", open: true, operator: true, h: s.opDrift},
	}
}

// authenticateOperator checks the bearer credential of an operator route.
// It fails closed: without an operator API, with no credential, or with
// anything but an operator credential (a tenant key included), the request
// is refused before its handler runs.
func (s *Server) authenticateOperator(r *http.Request) (string, error) {
	if s.opts.Operator == nil {
		return "", api.Errorf(api.CodeNotFound, "the operator API is off: start the server with --operator-keys")
	}
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case !ok || key == "":
		return "", api.Errorf(api.CodeUnauthenticated, "an operator credential is required: Authorization: Bearer co_...")
	case !strings.HasPrefix(key, api.OperatorKeyPrefix):
		return "", api.Errorf(api.CodeUnauthenticated, "only an operator credential (co_...) is accepted here; tenant keys are not")
	}
	id, ok := s.opts.Operator.Authenticate(key)
	if !ok {
		return "", api.Errorf(api.CodeUnauthenticated, "unknown operator credential")
	}
	return id, nil
}

// operatorID returns the operator a request of an operator route acts as.
func operatorID(r *http.Request) string { return metaOf(r).operator }

func (s *Server) opTenants(w http.ResponseWriter, r *http.Request) error {
	out, err := s.opts.Operator.Tenants(r.Context())
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opTenant(w http.ResponseWriter, r *http.Request) error {
	out, err := s.opts.Operator.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opHistory(w http.ResponseWriter, r *http.Request) error {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return api.Errorf(api.CodeInvalidRequest, "limit %q: want 1 to 1000", v).WithDetails(map[string]any{"param": "limit"})
		}
		limit = n
	}
	out, err := s.opts.Operator.History(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opDeploy(w http.ResponseWriter, r *http.Request) error {
	var req api.OperatorDeployRequest
	if err := decodeOperatorJSON(w, r, &req); err != nil {
		return err
	}
	out, err := s.opts.Operator.Deploy(r.Context(), operatorID(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opRollback(w http.ResponseWriter, r *http.Request) error {
	var req api.OperatorRollbackRequest
	if err := decodeOperatorJSON(w, r, &req); err != nil {
		return err
	}
	out, err := s.opts.Operator.Rollback(r.Context(), operatorID(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opUndeploy(w http.ResponseWriter, r *http.Request) error {
	out, err := s.opts.Operator.Undeploy(r.Context(), operatorID(r), r.PathValue("id"), r.URL.Query().Get("message"))
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opSecrets(w http.ResponseWriter, r *http.Request) error {
	var names []string
	for n := range strings.SplitSeq(r.URL.Query().Get("names"), ",") {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) > 256 {
		return api.Errorf(api.CodeInvalidRequest, "at most 256 names at once")
	}
	return writeData(w, r, http.StatusOK, s.opts.Operator.Secrets(names))
}

func (s *Server) opNewKey(w http.ResponseWriter, r *http.Request) error {
	var req api.OperatorKeyRequest
	if err := decodeOperatorJSON(w, r, &req); err != nil {
		return err
	}
	out, err := s.opts.Operator.NewKey(r.Context(), operatorID(r), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	// The answer holds a key: no cache may keep it.
	w.Header().Set("Cache-Control", "no-store")
	return writeData(w, r, http.StatusCreated, out)
}

func (s *Server) opRevokeKey(w http.ResponseWriter, r *http.Request) error {
	out, err := s.opts.Operator.RevokeKey(r.Context(), operatorID(r), r.PathValue("id"), r.PathValue("keyId"), r.URL.Query().Get("message"))
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

// opUsage answers GET /operator/v1/tenants/{id}/usage: the report of GET
// /usage, for a tenant the operator names (deployed or not: its usage
// stays in the store).
func (s *Server) opUsage(w http.ResponseWriter, r *http.Request) error {
	id, err := tenant.ParseID(r.PathValue("id"))
	if err != nil {
		return api.Errorf(api.CodeInvalidRequest, "tenant id %q: %v", r.PathValue("id"), err)
	}
	out, err := s.usageReport(r.Context(), id, r.URL.Query())
	if err != nil {
		return err
	}
	out.Budgets = []api.BudgetUse{}
	if t, ok := s.opts.Registry().Tenant(id.String()); ok {
		var key *tenant.Key
		if k := r.URL.Query().Get("key"); k != "" {
			key = tenantKey(t, k)
		}
		out.Budgets = s.budgetUse(t, key)
	}
	return writeData(w, r, http.StatusOK, out)
}

func (s *Server) opDrift(w http.ResponseWriter, r *http.Request) error {
	out, err := s.opts.Operator.Drift(r.Context())
	if err != nil {
		return err
	}
	return writeData(w, r, http.StatusOK, out)
}

// decodeOperatorJSON decodes an operator request body, strictly, within
// MaxOperatorBody.
func decodeOperatorJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONWithin(w, r, MaxOperatorBody, v)
}
