package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tailscale/hujson"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/httpapi"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// The operator API: tenant configs deployed, inspected and rolled back
// through the server with operator credentials (--operator-keys). Every
// change is made in the store, recorded there as a config event with the
// operator's ID, logged, and put in force on this server before the answer;
// other replicas follow within ConfigPollInterval.

// operatorKeys is the parsed --operator-keys file: credential hash to
// operator ID.
type operatorKeys map[string]string

// operatorFile is the format of the --operator-keys file.
type operatorFile struct {
	Keys []struct {
		ID   string `json:"id"`
		Hash string `json:"hash"`
	} `json:"keys"`
}

var (
	operatorIDPattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	operatorHashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// readOperatorKeys reads and checks the --operator-keys file: JSONC,
// {"keys": [{"id": ..., "hash": "sha256:..."}]}, IDs and hashes unique.
func readOperatorKeys(path string) (operatorKeys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--operator-keys: %w", err)
	}
	std, err := hujson.Standardize(data)
	if err != nil {
		return nil, fmt.Errorf("--operator-keys %s: invalid JSONC: %w", path, err)
	}
	var f operatorFile
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("--operator-keys %s: %w", path, err)
	}
	keys := operatorKeys{}
	var ids []string
	for i, k := range f.Keys {
		switch {
		case !operatorIDPattern.MatchString(k.ID):
			return nil, fmt.Errorf("--operator-keys %s: /keys/%d/id %q: want lowercase letters, digits, '.', '_' or '-'", path, i, k.ID)
		case !operatorHashPattern.MatchString(k.Hash):
			return nil, fmt.Errorf("--operator-keys %s: /keys/%d/hash: want sha256:<64 hex digits> (crispy operator key new prints it)", path, i)
		case slices.Contains(ids, k.ID):
			return nil, fmt.Errorf("--operator-keys %s: /keys/%d/id %q is used twice", path, i, k.ID)
		case keys[k.Hash] != "":
			return nil, fmt.Errorf("--operator-keys %s: /keys/%d/hash is also the hash of %q", path, i, keys[k.Hash])
		}
		keys[k.Hash] = k.ID
		ids = append(ids, k.ID)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("--operator-keys %s: no keys", path)
	}
	return keys, nil
}

// operatorAPI implements httpapi.Operator over the App.
type operatorAPI struct {
	a    *App
	keys atomic.Pointer[operatorKeys]
	// editMu serializes the key edits made here (read the active
	// version, edit, deploy), so that two at once do not lose one.
	editMu sync.Mutex
}

var _ httpapi.Operator = (*operatorAPI)(nil)

func (o *operatorAPI) Authenticate(key string) (string, bool) {
	keys := o.keys.Load()
	if keys == nil {
		return "", false
	}
	// The map is keyed by the credential's hash: a lookup compares
	// hashes, which reveal nothing of the credential.
	id, ok := (*keys)[tenant.HashKey(key)]
	return id, ok
}

// served returns the version of each tenant's config in force here.
func (o *operatorAPI) served() map[string]int64 {
	if p := o.a.configs.served.Load(); p != nil {
		return *p
	}
	return nil
}

func (o *operatorAPI) Tenants(ctx context.Context) (*api.OperatorTenantList, error) {
	active, err := o.a.db.Configs().ActiveConfigs(ctx)
	if err != nil {
		return nil, err
	}
	served := o.served()
	out := &api.OperatorTenantList{Epoch: active.Epoch, Tenants: []api.OperatorTenant{}}
	for _, v := range active.Configs {
		out.Tenants = append(out.Tenants, operatorTenant(v, served, false))
	}
	return out, nil
}

func operatorTenant(v store.ConfigVersion, served map[string]int64, content bool) api.OperatorTenant {
	t := api.OperatorTenant{
		ID: v.Tenant.String(), Version: v.Version, Hash: v.Hash, Served: served[v.Tenant.String()],
		Author: v.Author, Message: v.Message, Created: v.Created.UTC(),
	}
	if content {
		t.Content = string(v.Content)
	}
	return t
}

// active returns tenant id's active version, or a 404.
func (o *operatorAPI) active(ctx context.Context, id tenant.ID) (store.ConfigVersion, []store.ConfigVersion, error) {
	active, err := o.a.db.Configs().ActiveConfigs(ctx)
	if err != nil {
		return store.ConfigVersion{}, nil, err
	}
	for _, v := range active.Configs {
		if v.Tenant == id {
			return v, active.Configs, nil
		}
	}
	return store.ConfigVersion{}, active.Configs, api.Errorf(api.CodeNotFound, "tenant %s is not deployed", id)
}

func parseTenantID(s string) (tenant.ID, error) {
	id, err := tenant.ParseID(s)
	if err != nil {
		return tenant.ID{}, api.Errorf(api.CodeInvalidRequest, "tenant id %q: %v", s, err)
	}
	return id, nil
}

func (o *operatorAPI) Tenant(ctx context.Context, s string) (*api.OperatorTenant, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	v, _, err := o.active(ctx, id)
	if err != nil {
		return nil, err
	}
	t := operatorTenant(v, o.served(), true)
	cfg, err := o.parse(id, v)
	if err != nil {
		// Shown, rather than an empty list of keys that could be taken
		// for a tenant without any.
		t.ParseError = err.Error()
	} else {
		t.Name = cfg.Name
		t.Keys = []api.OperatorKey{}
		for _, k := range cfg.Keys {
			ok := api.OperatorKey{ID: k.ID, Description: k.Description, Dev: k.Dev, Expires: k.Expires, Scopes: []string{}}
			for _, sc := range k.Scopes {
				ok.Scopes = append(ok.Scopes, string(sc))
			}
			t.Keys = append(t.Keys, ok)
		}
		if t.Limits, err = json.Marshal(cfg.Limits); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// parse parses a deployed version as this server serves it (defaults
// applied).
func (o *operatorAPI) parse(id tenant.ID, v store.ConfigVersion) (*tenant.Config, error) {
	cfgs, err := tenant.ParseFiles([]tenant.File{{ID: id.String(), Name: fmt.Sprintf("store:%s@v%d", id, v.Version), Data: v.Content}},
		tenant.Options{AllowDevKeys: o.a.cfg.Env == config.Dev})
	if err != nil {
		return nil, err
	}
	return cfgs[0], nil
}

func (o *operatorAPI) History(ctx context.Context, s string, limit int) (*api.OperatorHistory, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	versions, active, err := o.a.db.Configs().ConfigHistory(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	events, err := o.a.db.Configs().ConfigEvents(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, api.Errorf(api.CodeNotFound, "tenant %s has never been deployed", id)
	}
	out := &api.OperatorHistory{Tenant: id.String(), Active: active, Versions: []api.OperatorVersion{}, Events: []api.OperatorEvent{}}
	for _, v := range versions {
		out.Versions = append(out.Versions, api.OperatorVersion{
			Version: v.Version, Hash: v.Hash, Author: v.Author, Message: v.Message, Created: v.Created.UTC(), Active: v.Version == active,
		})
	}
	for _, e := range events {
		out.Events = append(out.Events, api.OperatorEvent{Action: e.Action, From: e.From, To: e.To, Author: e.Author, Message: e.Message, Time: e.Time.UTC()})
	}
	return out, nil
}

// Deploy validates the config as this server would serve it (every
// problem, and the set it would make with the other deployed tenants),
// checks that the server has every secret it names, and, unless a dry run,
// deploys it and puts it in force here before answering.
func (o *operatorAPI) Deploy(ctx context.Context, operator, s string, req api.OperatorDeployRequest) (*api.OperatorDeployResult, error) {
	return o.deploy(ctx, operator, s, req, 0)
}

// deploy is Deploy; base, when not 0, is the version the content was
// edited from: another version active by then is a conflict.
func (o *operatorAPI) deploy(ctx context.Context, operator, s string, req api.OperatorDeployRequest, base int64) (*api.OperatorDeployResult, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	if req.Content == "" {
		return nil, api.Errorf(api.CodeInvalidRequest, "content is required: the tenant's config file")
	}
	if err := store.CheckNote(operator, req.Message); err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "message: %v", err)
	}
	cur, others, err := o.active(ctx, id)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	// The set this deploy would make: the other tenants' active configs
	// and this one.
	files := []tenant.File{{ID: id.String(), Name: "deploy:" + id.String(), Data: []byte(req.Content)}}
	for _, v := range others {
		if v.Tenant != id {
			files = append(files, tenant.File{ID: v.Tenant.String(), Name: fmt.Sprintf("store:%s@v%d", v.Tenant, v.Version), Data: v.Content})
		}
	}
	cfgs, err := tenant.ParseFiles(files, tenant.Options{AllowDevKeys: o.a.cfg.Env == config.Dev})
	if err != nil {
		return nil, problemsError(id, err)
	}
	if missing := o.Secrets(cfgs[0].SecretEnv()).Missing; len(missing) > 0 {
		return nil, api.Errorf(api.CodeInvalidRequest, "the server lacks environment variables the config of %s names: %v", id, missing).
			WithDetails(map[string]any{"missingSecrets": missing})
	}
	res := &api.OperatorDeployResult{Tenant: id.String(), From: cur.Version, To: cur.Version, DryRun: req.DryRun}
	if req.DryRun {
		res.Changed = cur.Hash != store.ConfigHash([]byte(req.Content))
		res.Served = o.served()[id.String()]
		return res, nil
	}
	changes, err := o.a.db.Configs().Deploy(ctx, store.Deploy{
		Puts:   []store.ConfigPut{{Tenant: id, Content: []byte(req.Content), Base: base}},
		Author: "operator:" + operator, Message: req.Message,
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, api.Errorf(api.CodeConflict, "the config of %s changed while it was edited: try again", id)
	}
	if err != nil {
		return nil, err
	}
	if len(changes) == 1 {
		res.From, res.To, res.Changed = changes[0].From, changes[0].To, true
	}
	return o.finish(ctx, operator, store.ActionDeploy, res)
}

// problemsError turns the problems of a tenant's config into the error
// of a refused deploy: 400, with every problem in details.problems.
func problemsError(id tenant.ID, err error) error {
	var ps tenant.Problems
	if !errors.As(err, &ps) {
		return err
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return api.Errorf(api.CodeInvalidRequest, "the config of %s is invalid here: %d problem(s)", id, len(ps)).
		WithDetails(map[string]any{"problems": lines})
}

// finish logs an operator's change and puts it in force here.
func (o *operatorAPI) finish(ctx context.Context, operator, action string, res *api.OperatorDeployResult) (*api.OperatorDeployResult, error) {
	if res.Changed {
		o.a.log.Info("operator action", "operator", operator, "action", action, "tenant", res.Tenant, "from_version", res.From, "to_version", res.To)
	}
	o.a.reloadMu.Lock()
	err := o.a.applyActive(ctx, false)
	o.a.reloadMu.Unlock()
	if err != nil {
		// The change is made; this server keeps serving what it had and
		// says so. Another deploy or the next poll tries again.
		o.a.log.Error("a deployed config is not in force here", "tenant", res.Tenant, "error", err)
	}
	res.Served = o.served()[res.Tenant]
	return res, nil
}

// Rollback makes an earlier version active: the one given, or the one
// active before the last change.
func (o *operatorAPI) Rollback(ctx context.Context, operator, s string, req api.OperatorRollbackRequest) (*api.OperatorDeployResult, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	if err := store.CheckNote(operator, req.Message); err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "message: %v", err)
	}
	version := req.Version
	if version < 0 {
		return nil, api.Errorf(api.CodeInvalidRequest, "version %d: want 1 or more, or 0 for the previous one", version)
	}
	if version == 0 {
		events, err := o.a.db.Configs().ConfigEvents(ctx, id, 1)
		if err != nil {
			return nil, err
		}
		if len(events) == 0 || events[0].From == 0 {
			return nil, api.Errorf(api.CodeConflict, "tenant %s has no earlier version to roll back to; name one with \"version\"", id)
		}
		version = events[0].From
	}
	// The version must be valid here, as a deploy must.
	target, err := o.a.db.Configs().ConfigVersion(ctx, id, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.CodeNotFound, "tenant %s has no version %d", id, version)
	}
	if err != nil {
		return nil, err
	}
	if _, err := o.Deploy(ctx, operator, s, api.OperatorDeployRequest{Content: string(target.Content), DryRun: true}); err != nil {
		return nil, err
	}
	change, err := o.a.db.Configs().Activate(ctx, id, version, "operator:"+operator, req.Message)
	if err != nil {
		return nil, err
	}
	res := &api.OperatorDeployResult{Tenant: id.String(), From: change.From, To: change.To, Changed: change.From != change.To}
	return o.finish(ctx, operator, store.ActionActivate, res)
}

// Undeploy removes a tenant from the deployment: its keys stop working on
// every server; its versions, documents and usage stay in the store.
func (o *operatorAPI) Undeploy(ctx context.Context, operator, s, message string) (*api.OperatorDeployResult, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	if err := store.CheckNote(operator, message); err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "message: %v", err)
	}
	change, err := o.a.db.Configs().Deactivate(ctx, id, "operator:"+operator, message)
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.Errorf(api.CodeNotFound, "tenant %s is not deployed", id)
	}
	if err != nil {
		return nil, err
	}
	res := &api.OperatorDeployResult{Tenant: id.String(), From: change.From, To: 0, Changed: true}
	return o.finish(ctx, operator, store.ActionDeactivate, res)
}

// Secrets reports which of names this server's environment has (set and
// not empty, directly or through NAME_FILE).
func (o *operatorAPI) Secrets(names []string) api.OperatorSecrets {
	out := api.OperatorSecrets{Present: []string{}, Missing: []string{}}
	for _, n := range names {
		if v, ok, err := o.a.lookupSecret(n); err == nil && ok && v != "" {
			out.Present = append(out.Present, n)
		} else {
			out.Missing = append(out.Missing, n)
		}
	}
	return out
}

func isNotFound(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == api.CodeNotFound
}
