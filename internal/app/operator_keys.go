package app

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Bounds of a new key's expiry: a key that expires within a minute is a
// mistake, and one that never expires is written without expiresIn.
const (
	minKeyExpiry = time.Minute
	maxKeyExpiry = 10 * 365 * 24 * time.Hour
)

// NewKey adds a key to a tenant's config where the config lives (see
// editKeys) and returns the key, shown this once.
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
		if err != nil || d < minKeyExpiry || d > maxKeyExpiry {
			return nil, api.Errorf(api.CodeInvalidRequest, "expiresIn %q: want a duration from %s to %s, such as 720h", req.ExpiresIn, minKeyExpiry, maxKeyExpiry).
				WithDetails(map[string]any{"param": "expiresIn"})
		}
		k.Expires = time.Now().Add(d).UTC().Truncate(time.Second)
	}
	if err := store.CheckNote(operator, req.Message); err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "message: %v", err)
	}
	secret := tenant.NewKey()
	k.Hash = tenant.HashKey(secret)
	res, err := o.editKeys(ctx, operator, id, req.Message, func(data []byte, cfg *tenant.Config) ([]byte, string, error) {
		if k.ID == "" {
			k.ID = tenant.FreeKeyID(cfg.Keys, time.Now())
		}
		// The edit is validated with the config: a key ID used twice or
		// an unknown scope is refused there, with the problem named.
		out, err := tenant.AddKey(data, k)
		if err != nil {
			return nil, "", api.Errorf(api.CodeInvalidRequest, "%v", err)
		}
		return out, "key new " + k.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return &api.OperatorKeyResult{Key: secret, KeyID: k.ID, Deploy: *res}, nil
}

// RevokeKey removes a key from a tenant's config where the config lives
// (see editKeys): the key stops working on this server before the answer,
// on the others within the poll interval.
func (o *operatorAPI) RevokeKey(ctx context.Context, operator, s, keyID, message string) (*api.OperatorDeployResult, error) {
	id, err := parseTenantID(s)
	if err != nil {
		return nil, err
	}
	if err := store.CheckNote(operator, message); err != nil {
		return nil, api.Errorf(api.CodeInvalidRequest, "message: %v", err)
	}
	return o.editKeys(ctx, operator, id, message, func(data []byte, _ *tenant.Config) ([]byte, string, error) {
		out, err := tenant.RemoveKey(data, keyID)
		switch {
		case errors.Is(err, tenant.ErrNoKey):
			return nil, "", api.Errorf(api.CodeNotFound, "tenant %s has no key %q", id, keyID)
		case err != nil:
			return nil, "", api.Errorf(api.CodeConflict, "%v", err)
		}
		return out, "key revoke " + keyID, nil
	})
}

// keyEdit edits a tenant file's keys (comments kept) and says what it did,
// as the default message of the change.
type keyEdit func(data []byte, cfg *tenant.Config) (out []byte, what string, err error)

// editKeys applies edit to tenant id's config where the config lives, so
// that the change lasts:
//
//   - A server that deploys its tenants folder (--config-source folder)
//     edits the tenant's file in the folder and deploys the folder, as a
//     reload does: the change is still there after the next reload or
//     restart, and the folder does not drift from the store. A folder it
//     cannot read or write (the embedded examples, a read-only mount) is a
//     conflict that says so; an edit the folder then refuses is undone.
//   - A server on the store (--config-source store) deploys the edited
//     active version, on the condition that it is still the active one.
//
// Edits through one server are serialized.
func (o *operatorAPI) editKeys(ctx context.Context, operator string, id tenant.ID, message string, edit keyEdit) (*api.OperatorDeployResult, error) {
	o.editMu.Lock()
	defer o.editMu.Unlock()
	v, _, err := o.active(ctx, id)
	if err != nil {
		return nil, err
	}
	if o.a.cfg.ConfigSource == config.ConfigFromFolder {
		return o.editFolder(ctx, operator, id, v, message, edit)
	}
	cfg, err := o.parse(id, v)
	if err != nil {
		return nil, api.Errorf(api.CodeConflict, "the deployed config of %s does not parse here: %v", id, err)
	}
	data, what, err := edit(v.Content, cfg)
	if err != nil {
		return nil, err
	}
	if message == "" {
		message = what
	}
	return o.deploy(ctx, operator, id.String(), api.OperatorDeployRequest{Content: string(data), Message: message}, v.Version)
}

// editFolder is editKeys on a server that deploys its tenants folder.
func (o *operatorAPI) editFolder(ctx context.Context, operator string, id tenant.ID, v store.ConfigVersion, message string, edit keyEdit) (*api.OperatorDeployResult, error) {
	path := filepath.Join(o.a.cfg.TenantsDir, id.String(), tenant.FileName)
	old, err := os.ReadFile(path)
	if err != nil {
		return nil, api.Errorf(api.CodeConflict, "this server deploys its tenants folder, and it cannot read %s (%v): edit the folder and reload, or serve with --config-source store", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, api.Errorf(api.CodeConflict, "%v", err)
	}
	cfgs, err := tenant.ParseFiles([]tenant.File{{ID: id.String(), Name: path, Data: old}}, tenant.Options{AllowDevKeys: o.a.cfg.Env == config.Dev})
	if err != nil {
		return nil, problemsError(id, err)
	}
	data, what, err := edit(old, cfgs[0])
	if err != nil {
		return nil, err
	}
	if message == "" {
		message = what
	}
	if err := writeFileAtomic(path, data, info.Mode().Perm()); err != nil {
		return nil, api.Errorf(api.CodeConflict, "this server deploys its tenants folder, and it cannot write %s (%v): edit the folder and reload, or serve with --config-source store", path, err)
	}
	o.a.reloadMu.Lock()
	folder, err := o.a.readFolder()
	if err != nil {
		// The folder refuses the edit (a key ID used twice, an unknown
		// scope, a key another tenant has): put the file back as it was.
		if rerr := writeFileAtomic(path, old, info.Mode().Perm()); rerr != nil {
			o.a.log.Error("a refused key edit could not be undone in the tenants folder", "path", path, "error", rerr)
		}
		o.a.reloadMu.Unlock()
		var ps tenant.Problems
		if errors.As(err, &ps) {
			return nil, problemsError(id, err)
		}
		return nil, api.Errorf(api.CodeInvalidRequest, "the tenants folder refuses the edit: %v", err)
	}
	err = o.a.deployFolder(ctx, folder, "operator:"+operator, message)
	o.a.reloadMu.Unlock()
	if err != nil {
		// The file is edited; the next reload deploys it.
		return nil, err
	}
	after, _, err := o.active(ctx, id)
	if err != nil {
		return nil, err
	}
	res := &api.OperatorDeployResult{Tenant: id.String(), From: v.Version, To: after.Version, Changed: after.Version != v.Version}
	o.a.log.Info("tenant file edited", "operator", operator, "tenant", id.String(), "path", path, "message", message)
	return o.finish(ctx, operator, store.ActionDeploy, res)
}

// writeFileAtomic replaces path with data: a reader sees the old file or
// the new one, never a part.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
