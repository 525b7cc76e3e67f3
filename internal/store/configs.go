package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Limits on what a config version holds, the same for every backend.
const (
	// MaxConfigBytes bounds a config's content: the size of a tenant file.
	MaxConfigBytes = tenant.MaxFileBytes
	// MaxConfigNoteBytes bounds a version's author and message.
	MaxConfigNoteBytes = 1000
	// MaxConfigHistory is the largest page of ConfigHistory.
	MaxConfigHistory = 1000
)

// ConfigVersion is one stored version of one tenant's config: the tenant
// file as it was deployed, numbered per tenant (1, 2, 3, ... never reused)
// and never changed once stored.
type ConfigVersion struct {
	Tenant  tenant.ID
	Version int64
	Hash    string // hex SHA-256 of Content
	Content []byte
	Author  string
	Message string
	Created time.Time
}

// ConfigPut is one tenant's config to deploy.
type ConfigPut struct {
	Tenant  tenant.ID
	Content []byte
	// Base, when not 0, is the active version the content was made from:
	// the deploy is refused with ErrConflict, and changes nothing, when
	// another version is active by then (an edit of a config read
	// earlier never overwrites a change made since).
	Base int64
}

// Deploy is a change of the deployed configs, made in one transaction: the
// servers that read the store see all of it or none of it.
type Deploy struct {
	Puts []ConfigPut
	// Prune deactivates every active tenant not among Puts: a tenants
	// folder deployed whole, in which a removed tenant is gone.
	Prune bool
	// Author and Message are recorded with each new version.
	Author, Message string
}

// ConfigChange is what a Deploy or an Activate changed for one tenant: the
// active version From (0: none, a new tenant) to To (0: deactivated).
type ConfigChange struct {
	Tenant   tenant.ID
	From, To int64
}

// ActiveConfigs is the deployed state: the active version of every tenant,
// sorted by tenant, read in one snapshot with the epoch it is at.
type ActiveConfigs struct {
	Epoch   int64
	Configs []ConfigVersion
}

// Configs holds every tenant's config as numbered versions, one of them
// active, and an epoch that each change moves forward, so that servers
// sharing the store can tell cheaply that they must read it again. It is
// the operator's store, not a tenant's: Active reads every tenant, and no
// tenant request calls it.
type Configs interface {
	// Deploy stores each put whose content differs from its tenant's
	// active version (by hash) as the tenant's next version and makes it
	// active; a put equal to the active version changes nothing. With
	// Prune, active tenants not among the puts are deactivated. It returns
	// the changes in tenant order; none when nothing changed, and then the
	// epoch does not move. A tenant may appear once among the puts.
	Deploy(ctx context.Context, d Deploy) ([]ConfigChange, error)
	// Activate makes version of tenant t active again (a rollback), or
	// ErrNotFound when t has no such version. Author and message are
	// recorded with the event, as Deploy's are.
	Activate(ctx context.Context, t tenant.ID, version int64, author, message string) (ConfigChange, error)
	// Deactivate removes tenant t from the deployment: no version of it is
	// active any more (its versions stay). ErrNotFound when it has no
	// active version.
	Deactivate(ctx context.Context, t tenant.ID, author, message string) (ConfigChange, error)
	// ActiveConfigs returns the deployed state.
	ActiveConfigs(ctx context.Context) (ActiveConfigs, error)
	// ConfigEpoch returns the epoch alone: one small read, for polling.
	// It is 0 before the first change.
	ConfigEpoch(ctx context.Context) (int64, error)
	// ConfigHistory returns up to limit (1 to MaxConfigHistory) versions
	// of tenant t, newest first, and the version active now (0: none).
	ConfigHistory(ctx context.Context, t tenant.ID, limit int) ([]ConfigVersion, int64, error)
	// ConfigVersion returns version v of tenant t's config, however old;
	// ErrNotFound when t has no such version.
	ConfigVersion(ctx context.Context, t tenant.ID, v int64) (ConfigVersion, error)
	// ConfigEvents returns up to limit (1 to MaxConfigHistory) of the
	// changes made to tenant t's active version, newest first: the audit
	// trail of deployments, rollbacks and deactivations, written in the
	// transaction of each change.
	ConfigEvents(ctx context.Context, t tenant.ID, limit int) ([]ConfigEvent, error)
}

// The actions a ConfigEvent records.
const (
	ActionDeploy     = "deploy"     // a new version made active
	ActionActivate   = "activate"   // an existing version made active again
	ActionDeactivate = "deactivate" // the tenant removed from the deployment
)

// ConfigEvent is one change of a tenant's active version.
type ConfigEvent struct {
	Tenant   tenant.ID
	Action   string
	From, To int64 // active version before and after (0: none)
	Author   string
	Message  string
	Time     time.Time
}

// Event returns the event that records c, made by author with message.
func (c ConfigChange) Event(action, author, message string) ConfigEvent {
	return ConfigEvent{Tenant: c.Tenant, Action: action, From: c.From, To: c.To, Author: author, Message: message}
}

// CheckNote validates the author and message of a change.
func CheckNote(author, message string) error {
	for _, s := range []string{author, message} {
		if len(s) > MaxConfigNoteBytes || !utf8.ValidString(s) || slices.Contains([]byte(s), 0) {
			return fmt.Errorf("%w: author and message must be UTF-8 without NUL, at most %d bytes", ErrInvalid, MaxConfigNoteBytes)
		}
	}
	return nil
}

// ConfigHash returns the hash a version records for content.
func ConfigHash(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// CheckDeploy validates d: every tenant set and named once, contents within
// MaxConfigBytes, author and message UTF-8 within MaxConfigNoteBytes.
// Backends call it first so that they reject the same inputs alike.
func CheckDeploy(d Deploy) error {
	seen := make(map[tenant.ID]bool, len(d.Puts))
	for _, p := range d.Puts {
		switch {
		case p.Tenant.IsZero():
			return fmt.Errorf("%w: tenant id is required", ErrInvalid)
		case seen[p.Tenant]:
			return fmt.Errorf("%w: tenant %s is deployed twice", ErrInvalid, p.Tenant)
		case len(p.Content) == 0:
			return fmt.Errorf("%w: the config of %s is empty", ErrInvalid, p.Tenant)
		case len(p.Content) > MaxConfigBytes:
			return fmt.Errorf("%w: the config of %s is larger than %d bytes", ErrInvalid, p.Tenant, MaxConfigBytes)
		}
		seen[p.Tenant] = true
	}
	return CheckNote(d.Author, d.Message)
}

// DeployPlan is what a Deploy must write, given the active versions: the
// versions to store (and activate) and the tenants to deactivate.
type DeployPlan struct {
	New        []ConfigVersion // Version filled in, Created left for the backend
	Deactivate []tenant.ID
	Changes    []ConfigChange
	Events     []ConfigEvent // one per change, Time left for the backend
}

// CheckBase returns ErrConflict, naming the tenant, when a put of d has a
// Base that is not the tenant's active version in active. Both backends
// run it inside their transaction, before PlanDeploy.
func CheckBase(d Deploy, active map[tenant.ID]ConfigVersion) error {
	for _, c := range d.Puts {
		if c.Base == 0 {
			continue
		}
		if cur := active[c.Tenant].Version; cur != c.Base {
			return fmt.Errorf("%w: the config of %s was edited from version %d, and version %d is active now", ErrConflict, c.Tenant, c.Base, cur)
		}
	}
	return nil
}

// PlanDeploy computes a Deploy against the active state: active maps each
// tenant with an active version to it (its Version and Hash), and last
// maps each tenant that has versions to its highest version number. Both
// backends run it inside their transaction, after locking the epoch.
func PlanDeploy(d Deploy, active map[tenant.ID]ConfigVersion, last map[tenant.ID]int64) DeployPlan {
	var p DeployPlan
	put := make(map[tenant.ID]bool, len(d.Puts))
	for _, c := range d.Puts {
		put[c.Tenant] = true
		hash := ConfigHash(c.Content)
		cur, ok := active[c.Tenant]
		if ok && cur.Hash == hash {
			continue
		}
		v := ConfigVersion{
			Tenant: c.Tenant, Version: last[c.Tenant] + 1, Hash: hash,
			Content: slices.Clone(c.Content), Author: d.Author, Message: d.Message,
		}
		p.New = append(p.New, v)
		p.Changes = append(p.Changes, ConfigChange{Tenant: c.Tenant, From: cur.Version, To: v.Version})
	}
	if d.Prune {
		for id, cur := range active {
			if !put[id] {
				p.Deactivate = append(p.Deactivate, id)
				p.Changes = append(p.Changes, ConfigChange{Tenant: id, From: cur.Version})
			}
		}
	}
	slices.SortFunc(p.New, func(a, b ConfigVersion) int { return compareID(a.Tenant, b.Tenant) })
	slices.SortFunc(p.Deactivate, compareID)
	slices.SortFunc(p.Changes, func(a, b ConfigChange) int { return compareID(a.Tenant, b.Tenant) })
	for _, c := range p.Changes {
		action := ActionDeploy
		if c.To == 0 {
			action = ActionDeactivate
		}
		p.Events = append(p.Events, c.Event(action, d.Author, d.Message))
	}
	return p
}

func compareID(a, b tenant.ID) int {
	switch as, bs := a.String(), b.String(); {
	case as < bs:
		return -1
	case as > bs:
		return 1
	}
	return 0
}

// Rows is what the config scanners read: *sql.Rows and pgx.Rows alike.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanConfigVersions reads rows of (version, hash, content, author,
// message, created_at) of tenant t, or, when t is zero, rows that begin
// with the tenant's ID. Both backends' queries select these columns.
func ScanConfigVersions(rows Rows, t tenant.ID) ([]ConfigVersion, error) {
	var out []ConfigVersion
	for rows.Next() {
		v := ConfigVersion{Tenant: t}
		var (
			id      string
			created int64
			dest    = []any{&v.Version, &v.Hash, &v.Content, &v.Author, &v.Message, &created}
		)
		if t.IsZero() {
			dest = append([]any{&id}, dest...)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if t.IsZero() {
			var err error
			if v.Tenant, err = tenant.ParseID(id); err != nil {
				return nil, fmt.Errorf("stored tenant %q: %w", id, err)
			}
		}
		v.Created = time.UnixMilli(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScanConfigEvents reads rows of (action, from_version, to_version,
// author, message, created_at) of tenant t.
func ScanConfigEvents(rows Rows, t tenant.ID) ([]ConfigEvent, error) {
	var out []ConfigEvent
	for rows.Next() {
		e := ConfigEvent{Tenant: t}
		var created int64
		if err := rows.Scan(&e.Action, &e.From, &e.To, &e.Author, &e.Message, &created); err != nil {
			return nil, err
		}
		e.Time = time.UnixMilli(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ScanLastVersions reads rows of (tenant, highest version).
func ScanLastVersions(rows Rows) (map[tenant.ID]int64, error) {
	last := map[tenant.ID]int64{}
	for rows.Next() {
		var (
			id string
			v  int64
		)
		if err := rows.Scan(&id, &v); err != nil {
			return nil, err
		}
		t, err := tenant.ParseID(id)
		if err != nil {
			return nil, fmt.Errorf("stored tenant %q: %w", id, err)
		}
		last[t] = v
	}
	return last, rows.Err()
}
