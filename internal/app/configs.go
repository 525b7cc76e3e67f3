package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crispy-enigma/crispy/internal/config"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Tenant configs are served from the store: every tenant's config is kept
// there as numbered versions, one active (store.Configs). The tenants folder
// is deployed to the store at start and on SIGHUP (--config-source folder,
// the default), or not read at all when an operator deploys to the store
// (--config-source store). Every replica polls the store's config epoch and
// puts a new set of active versions in force within ConfigPollInterval of
// its deployment, without a restart or a signal.
const (
	// ConfigPollInterval is how often a server reads the config epoch.
	ConfigPollInterval = 250 * time.Millisecond
	// configCallTimeout bounds one call to the config store.
	configCallTimeout = 10 * time.Second
)

// configState is what the server knows of the configs it serves.
type configState struct {
	// epoch is the store's config epoch the registry in force was read at
	// (or rejected at, so that a bad set is reported once, not at each
	// poll). Written under reloadMu.
	epoch int64
	// folder is the folder deployed last, for seed documents; nil when the
	// configs come from the store alone. Written under reloadMu.
	folder fs.FS
	// versions is the active version of each tenant served.
	versions *prometheus.GaugeVec
	// served is the same, for the operator API.
	served atomic.Pointer[map[string]int64]
}

// startConfigs deploys the folder, if the configs come from it, and reads
// the active versions from the store into the first registry.
func (a *App) startConfigs(ctx context.Context, folder *tenantFolder) (*tenant.Registry, error) {
	a.configs.versions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "crispy_tenant_config_version",
		Help: "The version of each tenant's config this server serves (the store's active version when it was read).",
	}, []string{"tenant"})
	if err := a.metrics.Registry.Register(a.configs.versions); err != nil {
		return nil, fmt.Errorf("config metric: %w", err)
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if folder != nil {
		if err := a.deployFolder(ctx, folder, "", ""); err != nil {
			return nil, err
		}
	}
	if err := a.applyActive(ctx, true); err != nil {
		return nil, err
	}
	reg := a.current.Load().registry
	if len(reg.Tenants()) == 0 {
		a.log.Warn("no tenant is deployed: every tenant request is refused until one is", "config_source", a.cfg.ConfigSource)
	}
	return reg, nil
}

// deployFolder deploys the folder's tenants to the store as the whole set:
// a tenant whose file changed gets a new version, a tenant no longer in
// the folder is deactivated, an unchanged one is left as it is. It runs
// under reloadMu. author and message, when not "", say who deploys it and
// why (an operator's key edit); by default, this server, from the folder.
func (a *App) deployFolder(ctx context.Context, folder *tenantFolder, author, message string) error {
	puts := make([]store.ConfigPut, len(folder.files))
	for i, f := range folder.files {
		id, err := tenant.ParseID(f.ID)
		if err != nil {
			return fmt.Errorf("deploy %s: %w", f.Name, err)
		}
		puts[i] = store.ConfigPut{Tenant: id, Content: f.Data}
	}
	if author == "" {
		host, _ := os.Hostname()
		author = "crispy serve on " + host
	}
	if message == "" {
		message = "deployed from " + folder.name
	}
	changes, err := a.db.Configs().Deploy(ctx, store.Deploy{
		Puts: puts, Prune: true,
		Author:  author,
		Message: message,
	})
	if err != nil {
		return fmt.Errorf("deploy the tenants folder to the store: %w", err)
	}
	a.configs.folder = folder.source
	for _, c := range changes {
		a.log.Info("tenant config deployed", "tenant", c.Tenant.String(), "from_version", c.From, "to_version", c.To, "folder", folder.name)
	}
	return nil
}

// applyActive reads the active versions from the store and, when the epoch
// moved since the registry in force was read (or always, with force), puts
// them in force. A set this server cannot serve (it fails validation here:
// a dev key on a prod server, say) is rejected and logged once, and the
// registry in force keeps serving. It runs under reloadMu.
func (a *App) applyActive(ctx context.Context, force bool) error {
	active, err := a.db.Configs().ActiveConfigs(ctx)
	if err != nil {
		return fmt.Errorf("read the tenant configs from the store: %w", err)
	}
	if !force && active.Epoch == a.configs.epoch {
		return nil
	}
	first := a.current.Load() == nil
	files := make([]tenant.File, len(active.Configs))
	for i, v := range active.Configs {
		files[i] = tenant.File{
			ID:   v.Tenant.String(),
			Name: fmt.Sprintf("store:%s@v%d", v.Tenant, v.Version),
			Data: v.Content,
		}
	}
	opts := tenant.Options{AllowDevKeys: a.cfg.Env == config.Dev}
	cfgs, err := tenant.ParseFiles(files, opts)
	var reg *tenant.Registry
	if err == nil {
		reg, err = tenant.NewRegistry(cfgs, opts)
	}
	if err != nil {
		a.configs.epoch = active.Epoch
		if !first {
			a.metrics.ConfigReloads.WithLabelValues("rejected").Inc()
			a.log.Error("deployed tenant configs rejected; the previous config keeps serving", "epoch", active.Epoch, "error", err)
		}
		return rejectedError{err}
	}
	a.swap(reg, a.configs.folder)
	a.configs.epoch = active.Epoch
	a.configs.versions.Reset()
	served := make(map[string]int64, len(active.Configs))
	for _, v := range active.Configs {
		a.configs.versions.WithLabelValues(v.Tenant.String()).Set(float64(v.Version))
		served[v.Tenant.String()] = v.Version
	}
	a.configs.served.Store(&served)
	if !first {
		a.metrics.ConfigReloads.WithLabelValues("ok").Inc()
		a.log.Info("tenant config reloaded", "epoch", active.Epoch, "tenants", tenantIDs(reg))
	}
	if a.rag != nil {
		a.seedKnowledge(ctx, a.current.Load())
	}
	return nil
}

// watchConfigs polls the config epoch every interval until ctx ends, and
// puts a new set of active versions in force when it moves: a deployment
// made through another replica, or an operator's, reaches this one without
// a signal.
func (a *App) watchConfigs(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := a.pollConfigs(ctx)
		switch {
		case err != nil && !failing && !errors.Is(err, context.Canceled):
			a.log.Warn("cannot read the tenant configs' epoch; serving the configs in force", "error", err)
			failing = true
		case err == nil && failing:
			a.log.Info("tenant configs' epoch readable again")
			failing = false
		}
	}
}

// pollConfigs reads the epoch and applies the active set when it moved.
func (a *App) pollConfigs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, configCallTimeout)
	defer cancel()
	epoch, err := a.db.Configs().ConfigEpoch(ctx)
	if err != nil {
		return err
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if epoch == a.configs.epoch {
		return nil
	}
	if err := a.applyActive(ctx, false); err != nil && !errors.As(err, new(rejectedError)) {
		return err // a rejected set was logged by applyActive
	}
	return nil
}

// rejectedError is a set of active configs that failed validation here.
type rejectedError struct{ error }

func (e rejectedError) Unwrap() error { return e.error }
