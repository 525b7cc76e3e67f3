package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Queries on the config tables.
const (
	cfgEpoch     = `SELECT epoch FROM config_epoch WHERE id = 1`
	cfgBumpEpoch = `UPDATE config_epoch SET epoch = epoch + 1 WHERE id = 1`
	cfgActive    = `SELECT v.tenant, v.version, v.hash, v.content, v.author, v.message, v.created_at
FROM config_active a JOIN config_versions v ON v.tenant = a.tenant AND v.version = a.version
ORDER BY v.tenant`
	cfgLast   = `SELECT tenant, max(version) FROM config_versions GROUP BY tenant`
	cfgInsert = `INSERT INTO config_versions (tenant, version, hash, content, author, message, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	cfgSetActive = `INSERT INTO config_active (tenant, version, updated_at) VALUES (?, ?, ?)
ON CONFLICT (tenant) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`
	cfgActiveOf = `SELECT version FROM config_active WHERE tenant = ?`
	cfgExists   = `SELECT 1 FROM config_versions WHERE tenant = ? AND version = ?`
	cfgHistory  = `SELECT version, hash, content, author, message, created_at FROM config_versions
WHERE tenant = ? ORDER BY version DESC LIMIT ?`
	cfgVersion = `SELECT version, hash, content, author, message, created_at FROM config_versions
WHERE tenant = ? AND version = ?`
	cfgEvent = `INSERT INTO config_events (tenant, action, from_version, to_version, author, message, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	cfgEvents = `SELECT action, from_version, to_version, author, message, created_at FROM config_events
WHERE tenant = ? ORDER BY id DESC LIMIT ?`
)

// Configs is the store.Configs kept in a DB. Changes run in a transaction
// of the writer connection (BEGIN IMMEDIATE: one at a time, from this
// process or another); reads use a snapshot of the reader pool.
type Configs struct {
	db *DB
}

var _ store.Configs = (*Configs)(nil)

// Configs returns the tenant config versions kept in the database.
func (db *DB) Configs() *Configs { return &Configs{db: db} }

// Deploy implements store.Configs.
func (c *Configs) Deploy(ctx context.Context, d store.Deploy) ([]store.ConfigChange, error) {
	if err := store.CheckDeploy(d); err != nil {
		return nil, fmt.Errorf("sqlite: deploy: %w", err)
	}
	if err := c.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: deploy: %w", err)
	}
	changes, err := c.deploy(ctx, d)
	if err != nil {
		return nil, c.db.fail(ctx, "deploy", err)
	}
	return changes, nil
}

func (c *Configs) deploy(ctx context.Context, d store.Deploy) ([]store.ConfigChange, error) {
	tx, err := c.db.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	active, err := readActive(ctx, tx)
	if err != nil {
		return nil, err
	}
	byTenant := make(map[tenant.ID]store.ConfigVersion, len(active))
	for _, v := range active {
		byTenant[v.Tenant] = v
	}
	last, err := readLast(ctx, tx)
	if err != nil {
		return nil, err
	}
	if err := store.CheckBase(d, byTenant); err != nil {
		return nil, err
	}
	plan := store.PlanDeploy(d, byTenant, last)
	if len(plan.Changes) == 0 {
		return nil, nil
	}
	now := c.db.now().UnixMilli()
	for _, v := range plan.New {
		if _, err := tx.ExecContext(ctx, cfgInsert, v.Tenant.String(), v.Version, v.Hash, v.Content, v.Author, v.Message, now); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, cfgSetActive, v.Tenant.String(), v.Version, now); err != nil {
			return nil, err
		}
	}
	for _, id := range plan.Deactivate {
		if _, err := tx.ExecContext(ctx, cfgSetActive, id.String(), nil, now); err != nil {
			return nil, err
		}
	}
	for _, e := range plan.Events {
		if _, err := tx.ExecContext(ctx, cfgEvent, e.Tenant.String(), e.Action, e.From, e.To, e.Author, e.Message, now); err != nil {
			return nil, err
		}
	}
	if _, err := tx.ExecContext(ctx, cfgBumpEpoch); err != nil {
		return nil, err
	}
	return plan.Changes, tx.Commit()
}

// Activate implements store.Configs.
func (c *Configs) Activate(ctx context.Context, t tenant.ID, version int64, author, message string) (store.ConfigChange, error) {
	if t.IsZero() || version < 1 {
		return store.ConfigChange{}, fmt.Errorf("sqlite: activate: %w: a tenant and a version of 1 or more are required", store.ErrInvalid)
	}
	if err := store.CheckNote(author, message); err != nil {
		return store.ConfigChange{}, fmt.Errorf("sqlite: activate: %w", err)
	}
	if err := c.db.ready(ctx); err != nil {
		return store.ConfigChange{}, fmt.Errorf("sqlite: activate: %w", err)
	}
	change, err := c.activate(ctx, t, version, author, message)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.ConfigChange{}, fmt.Errorf("sqlite: activate: %s has no version %d: %w", t, version, err)
	case err != nil:
		return store.ConfigChange{}, c.db.fail(ctx, "activate", err)
	}
	return change, nil
}

func (c *Configs) activate(ctx context.Context, t tenant.ID, version int64, author, message string) (store.ConfigChange, error) {
	change := store.ConfigChange{Tenant: t, To: version}
	tx, err := c.db.writer.BeginTx(ctx, nil)
	if err != nil {
		return change, err
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, cfgExists, t.String(), version).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return change, store.ErrNotFound
	} else if err != nil {
		return change, err
	}
	var from sql.NullInt64
	if err := tx.QueryRowContext(ctx, cfgActiveOf, t.String()).Scan(&from); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return change, err
	}
	change.From = from.Int64
	if change.From == version {
		return change, nil
	}
	now := c.db.now().UnixMilli()
	if _, err := tx.ExecContext(ctx, cfgSetActive, t.String(), version, now); err != nil {
		return change, err
	}
	if _, err := tx.ExecContext(ctx, cfgEvent, t.String(), store.ActionActivate, change.From, change.To, author, message, now); err != nil {
		return change, err
	}
	if _, err := tx.ExecContext(ctx, cfgBumpEpoch); err != nil {
		return change, err
	}
	return change, tx.Commit()
}

// Deactivate implements store.Configs.
func (c *Configs) Deactivate(ctx context.Context, t tenant.ID, author, message string) (store.ConfigChange, error) {
	change := store.ConfigChange{Tenant: t}
	if t.IsZero() {
		return change, fmt.Errorf("sqlite: deactivate: %w: tenant id is required", store.ErrInvalid)
	}
	if err := store.CheckNote(author, message); err != nil {
		return change, fmt.Errorf("sqlite: deactivate: %w", err)
	}
	if err := c.db.ready(ctx); err != nil {
		return change, fmt.Errorf("sqlite: deactivate: %w", err)
	}
	err := func() error {
		tx, err := c.db.writer.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		var from sql.NullInt64
		if err := tx.QueryRowContext(ctx, cfgActiveOf, t.String()).Scan(&from); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if from.Int64 == 0 {
			return store.ErrNotFound
		}
		change.From = from.Int64
		now := c.db.now().UnixMilli()
		if _, err := tx.ExecContext(ctx, cfgSetActive, t.String(), nil, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, cfgEvent, t.String(), store.ActionDeactivate, change.From, 0, author, message, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, cfgBumpEpoch); err != nil {
			return err
		}
		return tx.Commit()
	}()
	switch {
	case errors.Is(err, store.ErrNotFound):
		return change, fmt.Errorf("sqlite: deactivate: %s is not deployed: %w", t, err)
	case err != nil:
		return change, c.db.fail(ctx, "deactivate", err)
	}
	return change, nil
}

// ConfigEvents implements store.Configs.
func (c *Configs) ConfigEvents(ctx context.Context, t tenant.ID, limit int) ([]store.ConfigEvent, error) {
	if t.IsZero() || limit < 1 || limit > store.MaxConfigHistory {
		return nil, fmt.Errorf("sqlite: config events: %w: a tenant and a limit of 1 to %d are required", store.ErrInvalid, store.MaxConfigHistory)
	}
	if err := c.db.ready(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: config events: %w", err)
	}
	rows, err := c.db.reader.QueryContext(ctx, cfgEvents, t.String(), limit)
	if err != nil {
		return nil, c.db.fail(ctx, "config events", err)
	}
	defer rows.Close()
	out, err := store.ScanConfigEvents(rows, t)
	if err != nil {
		return nil, c.db.fail(ctx, "config events", err)
	}
	return out, nil
}

// ActiveConfigs implements store.Configs.
func (c *Configs) ActiveConfigs(ctx context.Context) (store.ActiveConfigs, error) {
	if err := c.db.ready(ctx); err != nil {
		return store.ActiveConfigs{}, fmt.Errorf("sqlite: active configs: %w", err)
	}
	var out store.ActiveConfigs
	err := func() error {
		tx, err := c.db.reader.BeginTx(ctx, nil) // a read snapshot
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, cfgEpoch).Scan(&out.Epoch); err != nil {
			return err
		}
		out.Configs, err = readActive(ctx, tx)
		return err
	}()
	if err != nil {
		return store.ActiveConfigs{}, c.db.fail(ctx, "active configs", err)
	}
	return out, nil
}

// ConfigEpoch implements store.Configs.
func (c *Configs) ConfigEpoch(ctx context.Context) (int64, error) {
	if err := c.db.ready(ctx); err != nil {
		return 0, fmt.Errorf("sqlite: config epoch: %w", err)
	}
	var epoch int64
	if err := c.db.reader.QueryRowContext(ctx, cfgEpoch).Scan(&epoch); err != nil {
		return 0, c.db.fail(ctx, "config epoch", err)
	}
	return epoch, nil
}

// ConfigHistory implements store.Configs.
func (c *Configs) ConfigHistory(ctx context.Context, t tenant.ID, limit int) ([]store.ConfigVersion, int64, error) {
	if t.IsZero() || limit < 1 || limit > store.MaxConfigHistory {
		return nil, 0, fmt.Errorf("sqlite: config history: %w: a tenant and a limit of 1 to %d are required", store.ErrInvalid, store.MaxConfigHistory)
	}
	if err := c.db.ready(ctx); err != nil {
		return nil, 0, fmt.Errorf("sqlite: config history: %w", err)
	}
	var (
		out    []store.ConfigVersion
		active sql.NullInt64
	)
	err := func() error {
		tx, err := c.db.reader.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, cfgActiveOf, t.String()).Scan(&active); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		rows, err := tx.QueryContext(ctx, cfgHistory, t.String(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = store.ScanConfigVersions(rows, t)
		return err
	}()
	if err != nil {
		return nil, 0, c.db.fail(ctx, "config history", err)
	}
	return out, active.Int64, nil
}

// readActive reads the active version of every tenant, sorted by tenant.
func readActive(ctx context.Context, q querier) ([]store.ConfigVersion, error) {
	rows, err := q.QueryContext(ctx, cfgActive)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanConfigVersions(rows, tenant.ID{})
}

// readLast reads each tenant's highest version.
func readLast(ctx context.Context, q querier) (map[tenant.ID]int64, error) {
	rows, err := q.QueryContext(ctx, cfgLast)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.ScanLastVersions(rows)
}

// ConfigVersion implements store.Configs.
func (c *Configs) ConfigVersion(ctx context.Context, t tenant.ID, v int64) (store.ConfigVersion, error) {
	if t.IsZero() || v < 1 {
		return store.ConfigVersion{}, fmt.Errorf("sqlite: config version: %w: a tenant and a version of 1 or more are required", store.ErrInvalid)
	}
	if err := c.db.ready(ctx); err != nil {
		return store.ConfigVersion{}, fmt.Errorf("sqlite: config version: %w", err)
	}
	var out []store.ConfigVersion
	err := func() error {
		rows, err := c.db.reader.QueryContext(ctx, cfgVersion, t.String(), v)
		if err != nil {
			return err
		}
		defer rows.Close()
		out, err = store.ScanConfigVersions(rows, t)
		return err
	}()
	if err != nil {
		return store.ConfigVersion{}, c.db.fail(ctx, "config version", err)
	}
	if len(out) == 0 {
		return store.ConfigVersion{}, fmt.Errorf("sqlite: config version: %w: %s has no version %d", store.ErrNotFound, t, v)
	}
	return out[0], nil
}
