package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the config tables, run as ConfigRole.
const (
	cfgEpoch     = `SELECT epoch FROM config_epoch WHERE id = 1`
	cfgLockEpoch = `SELECT epoch FROM config_epoch WHERE id = 1 FOR UPDATE`
	cfgBumpEpoch = `UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1`
	cfgActive    = `SELECT v.tenant, v.version, v.hash, v.content, v.author, v.message, v.created_at
FROM config_active a JOIN config_versions v ON v.tenant = a.tenant AND v.version = a.version
ORDER BY v.tenant`
	cfgLast   = `SELECT tenant, max(version) FROM config_versions GROUP BY tenant`
	cfgInsert = `INSERT INTO config_versions (tenant, version, hash, content, author, message, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
	cfgSetActive = `INSERT INTO config_active (tenant, version, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (tenant) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`
	cfgActiveOf = `SELECT version FROM config_active WHERE tenant = $1`
	cfgExists   = `SELECT EXISTS (SELECT 1 FROM config_versions WHERE tenant = $1 AND version = $2)`
	cfgHistory  = `SELECT version, hash, content, author, message, created_at FROM config_versions
WHERE tenant = $1 ORDER BY version DESC LIMIT $2`
	cfgVersion = `SELECT version, hash, content, author, message, created_at FROM config_versions
WHERE tenant = $1 AND version = $2`
	cfgEvent = `INSERT INTO config_events (tenant, action, from_version, to_version, author, message, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`
	cfgEvents = `SELECT action, from_version, to_version, author, message, created_at FROM config_events
WHERE tenant = $1 ORDER BY id DESC LIMIT $2`
)

// Configs is the store.Configs kept in the database, shared by every
// replica. Every change locks the epoch row first, so changes from several
// replicas run one at a time, and moves the epoch in the same transaction.
// Its statements run as ConfigRole.
type Configs struct {
	db *DB
}

var _ store.Configs = (*Configs)(nil)

// Configs returns the tenant config versions kept in the database.
func (db *DB) Configs() *Configs { return &Configs{db: db} }

// tx runs fn in a transaction as ConfigRole and commits it.
func (c *Configs) tx(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	tx, err := c.db.pool.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op once committed
	if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+ConfigRole); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Deploy implements store.Configs.
func (c *Configs) Deploy(ctx context.Context, d store.Deploy) ([]store.ConfigChange, error) {
	if err := store.CheckDeploy(d); err != nil {
		return nil, fmt.Errorf("postgres: deploy: %w", err)
	}
	if err := c.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: deploy: %w", err)
	}
	var changes []store.ConfigChange
	err := c.tx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var epoch int64
		if err := tx.QueryRow(ctx, cfgLockEpoch).Scan(&epoch); err != nil {
			return err
		}
		active, err := readActive(ctx, tx)
		if err != nil {
			return err
		}
		byTenant := make(map[tenant.ID]store.ConfigVersion, len(active))
		for _, v := range active {
			byTenant[v.Tenant] = v
		}
		last, err := readLast(ctx, tx)
		if err != nil {
			return err
		}
		if err := store.CheckBase(d, byTenant); err != nil {
			return err
		}
		plan := store.PlanDeploy(d, byTenant, last)
		if len(plan.Changes) == 0 {
			return nil
		}
		now := c.db.now().UnixMilli()
		b := &pgx.Batch{}
		for _, v := range plan.New {
			b.Queue(cfgInsert, v.Tenant.String(), v.Version, v.Hash, v.Content, v.Author, v.Message, now)
			b.Queue(cfgSetActive, v.Tenant.String(), v.Version, now)
		}
		for _, id := range plan.Deactivate {
			b.Queue(cfgSetActive, id.String(), nil, now)
		}
		for _, e := range plan.Events {
			b.Queue(cfgEvent, e.Tenant.String(), e.Action, e.From, e.To, e.Author, e.Message, now)
		}
		b.Queue(cfgBumpEpoch)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		changes = plan.Changes
		return nil
	})
	if err != nil {
		return nil, c.db.fail(ctx, "deploy", err)
	}
	return changes, nil
}

// Activate implements store.Configs.
func (c *Configs) Activate(ctx context.Context, t tenant.ID, version int64, author, message string) (store.ConfigChange, error) {
	change := store.ConfigChange{Tenant: t, To: version}
	if t.IsZero() || version < 1 {
		return change, fmt.Errorf("postgres: activate: %w: a tenant and a version of 1 or more are required", store.ErrInvalid)
	}
	if err := store.CheckNote(author, message); err != nil {
		return change, fmt.Errorf("postgres: activate: %w", err)
	}
	if err := c.db.ready(ctx); err != nil {
		return change, fmt.Errorf("postgres: activate: %w", err)
	}
	err := c.tx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var epoch int64
		if err := tx.QueryRow(ctx, cfgLockEpoch).Scan(&epoch); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, cfgExists, t.String(), version).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return store.ErrNotFound
		}
		var from *int64
		if err := tx.QueryRow(ctx, cfgActiveOf, t.String()).Scan(&from); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if from != nil {
			change.From = *from
		}
		if change.From == version {
			return nil
		}
		now := c.db.now().UnixMilli()
		b := &pgx.Batch{}
		b.Queue(cfgSetActive, t.String(), version, now)
		b.Queue(cfgEvent, t.String(), store.ActionActivate, change.From, change.To, author, message, now)
		b.Queue(cfgBumpEpoch)
		return tx.SendBatch(ctx, b).Close()
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return change, fmt.Errorf("postgres: activate: %s has no version %d: %w", t, version, err)
	case err != nil:
		return change, c.db.fail(ctx, "activate", err)
	}
	return change, nil
}

// Deactivate implements store.Configs.
func (c *Configs) Deactivate(ctx context.Context, t tenant.ID, author, message string) (store.ConfigChange, error) {
	change := store.ConfigChange{Tenant: t}
	if t.IsZero() {
		return change, fmt.Errorf("postgres: deactivate: %w: tenant id is required", store.ErrInvalid)
	}
	if err := store.CheckNote(author, message); err != nil {
		return change, fmt.Errorf("postgres: deactivate: %w", err)
	}
	if err := c.db.ready(ctx); err != nil {
		return change, fmt.Errorf("postgres: deactivate: %w", err)
	}
	err := c.tx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var epoch int64
		if err := tx.QueryRow(ctx, cfgLockEpoch).Scan(&epoch); err != nil {
			return err
		}
		var from *int64
		if err := tx.QueryRow(ctx, cfgActiveOf, t.String()).Scan(&from); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if from == nil {
			return store.ErrNotFound
		}
		change.From = *from
		now := c.db.now().UnixMilli()
		b := &pgx.Batch{}
		b.Queue(cfgSetActive, t.String(), nil, now)
		b.Queue(cfgEvent, t.String(), store.ActionDeactivate, change.From, 0, author, message, now)
		b.Queue(cfgBumpEpoch)
		return tx.SendBatch(ctx, b).Close()
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return change, fmt.Errorf("postgres: deactivate: %s is not deployed: %w", t, err)
	case err != nil:
		return change, c.db.fail(ctx, "deactivate", err)
	}
	return change, nil
}

// ConfigEvents implements store.Configs.
func (c *Configs) ConfigEvents(ctx context.Context, t tenant.ID, limit int) ([]store.ConfigEvent, error) {
	if t.IsZero() || limit < 1 || limit > store.MaxConfigHistory {
		return nil, fmt.Errorf("postgres: config events: %w: a tenant and a limit of 1 to %d are required", store.ErrInvalid, store.MaxConfigHistory)
	}
	if err := c.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("postgres: config events: %w", err)
	}
	var out []store.ConfigEvent
	err := c.tx(ctx, readOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, cfgEvents, t.String(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = store.ScanConfigEvents(rows, t)
		return err
	})
	if err != nil {
		return nil, c.db.fail(ctx, "config events", err)
	}
	return out, nil
}

// ActiveConfigs implements store.Configs.
func (c *Configs) ActiveConfigs(ctx context.Context) (store.ActiveConfigs, error) {
	if err := c.db.ready(ctx); err != nil {
		return store.ActiveConfigs{}, fmt.Errorf("postgres: active configs: %w", err)
	}
	var out store.ActiveConfigs
	err := c.tx(ctx, readOnly, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, cfgEpoch).Scan(&out.Epoch); err != nil {
			return err
		}
		var err error
		out.Configs, err = readActive(ctx, tx)
		return err
	})
	if err != nil {
		return store.ActiveConfigs{}, c.db.fail(ctx, "active configs", err)
	}
	return out, nil
}

// ConfigEpoch implements store.Configs.
func (c *Configs) ConfigEpoch(ctx context.Context) (int64, error) {
	if err := c.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("postgres: config epoch: %w", err)
	}
	// One round trip: the role and the read in one implicit transaction.
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('role', $1, true)`, ConfigRole)
	b.Queue(cfgEpoch)
	var epoch int64
	br, err := c.db.send(ctx, b)
	if err == nil {
		err = batchRow{br: br}.Scan(&epoch)
	}
	if err != nil {
		return 0, c.db.fail(ctx, "config epoch", err)
	}
	return epoch, nil
}

// ConfigHistory implements store.Configs.
func (c *Configs) ConfigHistory(ctx context.Context, t tenant.ID, limit int) ([]store.ConfigVersion, int64, error) {
	if t.IsZero() || limit < 1 || limit > store.MaxConfigHistory {
		return nil, 0, fmt.Errorf("postgres: config history: %w: a tenant and a limit of 1 to %d are required", store.ErrInvalid, store.MaxConfigHistory)
	}
	if err := c.db.ready(ctx); err != nil {
		return nil, 0, fmt.Errorf("postgres: config history: %w", err)
	}
	var (
		out    []store.ConfigVersion
		active int64
	)
	err := c.tx(ctx, readOnly, func(tx pgx.Tx) error {
		var v *int64
		if err := tx.QueryRow(ctx, cfgActiveOf, t.String()).Scan(&v); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if v != nil {
			active = *v
		}
		rows, err := tx.Query(ctx, cfgHistory, t.String(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = store.ScanConfigVersions(rows, t)
		return err
	})
	if err != nil {
		return nil, 0, c.db.fail(ctx, "config history", err)
	}
	return out, active, nil
}

// readActive reads the active version of every tenant, sorted by tenant.
func readActive(ctx context.Context, tx pgx.Tx) ([]store.ConfigVersion, error) {
	rows, err := tx.Query(ctx, cfgActive)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanConfigVersions(rows, tenant.ID{})
}

// readLast reads each tenant's highest version.
func readLast(ctx context.Context, tx pgx.Tx) (map[tenant.ID]int64, error) {
	rows, err := tx.Query(ctx, cfgLast)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanLastVersions(rows)
}

// ConfigVersion implements store.Configs.
func (c *Configs) ConfigVersion(ctx context.Context, t tenant.ID, v int64) (store.ConfigVersion, error) {
	if t.IsZero() || v < 1 {
		return store.ConfigVersion{}, fmt.Errorf("postgres: config version: %w: a tenant and a version of 1 or more are required", store.ErrInvalid)
	}
	if err := c.db.ready(ctx); err != nil {
		return store.ConfigVersion{}, fmt.Errorf("postgres: config version: %w", err)
	}
	var out []store.ConfigVersion
	err := c.tx(ctx, readOnly, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, cfgVersion, t.String(), v)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = store.ScanConfigVersions(rows, t)
		return err
	})
	if err != nil {
		return store.ConfigVersion{}, c.db.fail(ctx, "config version", err)
	}
	if len(out) == 0 {
		return store.ConfigVersion{}, fmt.Errorf("postgres: config version: %w: %s has no version %d", store.ErrNotFound, t, v)
	}
	return out[0], nil
}
