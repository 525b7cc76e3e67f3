package app

import (
	"context"
	"errors"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// NewKey adds a key to a tenant's deployed config, deploys the result and
// returns the key, shown this once. Like 'crispy key new --env', it edits
// the deployed file in place, comments kept.
func (o *operatorAPI) NewKey(ctx context.Context, operator, s string, req api.OperatorKeyRequest) (*api.OperatorKeyResult, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	if len(req.Scopes) == 0 {
		return nil, api.Errorf(api.CodeInvalidRequest, "scopes: a key needs at least one scope").WithDetails(map[string]any{"param": "scopes"})
	}
	k := tenant.Key{ID: req.ID, Description: req.Description}
	for _, sc := range req.Scopes {
		k.Scopes = append(k.Scopes, tenant.Scope(sc))
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return nil, api.Errorf(api.CodeInvalidRequest, "expiresIn %q: want a positive duration such as 720h", req.ExpiresIn).WithDetails(map[string]any{"param": "expiresIn"})
		}
		k.Expires = time.Now().Add(d).UTC().Truncate(time.Second)
	}
	o.editMu.Lock()
	defer o.editMu.Unlock()
	v, _, err := o.active(ctx, id)
	if err != nil {
		return nil, err
	}
	cfg, err := o.parse(id, v)
	if err != nil {
		return nil, api.Errorf(api.CodeConflict, "the deployed config of %s does not parse here: %v", id, err)
	}
	if k.ID == "" {
		k.ID = tenant.FreeKeyID(cfg.Keys, time.Now())
	}
	secret := tenant.NewKey()
	k.Hash = tenant.HashKey(secret)
	data, err := tenant.AddKey(v.Content, k)
	if err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "%v", err)
	}
	msg := req.Message
	if msg == "" {
		msg = "key new " + k.ID
	}
	// Deploy validates the result: a key ID used twice or an unknown
	// scope is refused there, with the problem named.
	res, err := o.Deploy(ctx, operator, s, api.OperatorDeployRequest{Content: string(data), Message: msg})
	if err != nil {
		return nil, err
	}
	return &api.OperatorKeyResult{Key: secret, KeyID: k.ID, Deploy: *res}, nil
}

// RevokeKey removes a key from a tenant's deployed config and deploys the
// result: the key stops working on every server within the poll interval,
// on this one before the answer.
func (o *operatorAPI) RevokeKey(ctx context.Context, operator, s, keyID, message string) (*api.OperatorDeployResult, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	o.editMu.Lock()
	defer o.editMu.Unlock()
	v, _, err := o.active(ctx, id)
	if err != nil {
		return nil, err
	}
	data, err := tenant.RemoveKey(v.Content, keyID)
	switch {
	case errors.Is(err, tenant.ErrNoKey):
		return nil, api.Errorf(api.CodeNotFound, "tenant %s has no key %q", id, keyID)
	case err != nil:
		return nil, api.Errorf(api.CodeConflict, "%v", err)
	}
	if message == "" {
		message = "key revoke " + keyID
	}
	return o.Deploy(ctx, operator, s, api.OperatorDeployRequest{Content: string(data), Message: message})
}

// Drift compares this server's tenants folder with the versions active in
// its store, as 'crispy drift' does from an operator's machine: a deploy,
// rollback or key change made through the operator API since the folder
// was last deployed shows here. A server on --config-source store has no
// folder to compare.
func (o *operatorAPI) Drift(ctx context.Context) (*api.OperatorDrift, error) {
	out := &api.OperatorDrift{Env: string(o.a.cfg.Env), Source: o.a.cfg.ConfigSource, Tenants: []api.OperatorDriftTenant{}}
	if o.a.cfg.ConfigSource != config.ConfigFromFolder {
		return out, nil
	}
	active, err := o.a.db.Configs().ActiveConfigs(ctx)
	if err != nil {
		return nil, err
	}
	deployed := map[string]store.ConfigVersion{}
	for _, v := range active.Configs {
		deployed[v.Tenant.String()] = v
	}
	folder, err := o.a.readFolder()
	if err != nil {
		// The folder as a whole cannot be served: that is the drift to
		// report, not a failure of the request.
		out.Folder, out.Error = o.a.cfg.TenantsDir, err.Error()
		return out, nil
	}
	out.Folder = folder.name
	local := map[string]bool{}
	for _, f := range folder.files {
		local[f.ID] = true
		d := api.OperatorDriftTenant{ID: f.ID, LocalHash: store.ConfigHash(f.Data)}
		v, ok := deployed[f.ID]
		switch {
		case !ok:
			d.Status = api.DriftOnlyLocal
		case v.Hash == d.LocalHash:
			d.Status, d.Version, d.Hash = api.DriftInSync, v.Version, v.Hash
		default:
			d.Status, d.Version, d.Hash = api.DriftDiffers, v.Version, v.Hash
		}
		out.Tenants = append(out.Tenants, d)
	}
	for _, v := range active.Configs {
		if !local[v.Tenant.String()] {
			out.Tenants = append(out.Tenants, api.OperatorDriftTenant{ID: v.Tenant.String(), Status: api.DriftOnlyDeployed, Version: v.Version, Hash: v.Hash})
		}
	}
	return out, nil
}
