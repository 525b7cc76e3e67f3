package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// TestConfigs runs the conformance suite of store.Configs against the
// store returned by open. Each subtest calls open once and expects an
// empty store.
func TestConfigs(t *testing.T, open func(t *testing.T) store.Configs) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, c store.Configs)
	}{
		{"DeployAndActivate", testConfigDeploy},
		{"Prune", testConfigPrune},
		{"Invalid", testConfigInvalid},
		{"Concurrent", testConfigConcurrent},
		{"Base", testConfigBase},
		{"Version", testConfigVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

func put(id tenant.ID, content string) store.ConfigPut {
	return store.ConfigPut{Tenant: id, Content: []byte(content)}
}

func mustDeploy(t *testing.T, c store.Configs, d store.Deploy) []store.ConfigChange {
	t.Helper()
	changes, err := c.Deploy(context.Background(), d)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	return changes
}

func mustActive(t *testing.T, c store.Configs) store.ActiveConfigs {
	t.Helper()
	a, err := c.ActiveConfigs(context.Background())
	if err != nil {
		t.Fatalf("ActiveConfigs: %v", err)
	}
	epoch, err := c.ConfigEpoch(context.Background())
	if err != nil || epoch != a.Epoch {
		t.Fatalf("ConfigEpoch = %d, %v; ActiveConfigs says %d", epoch, err, a.Epoch)
	}
	return a
}

// activeSummary renders the active state as "acme:2:<content> globex:1:<content>".
func activeSummary(a store.ActiveConfigs) string {
	var parts []string
	for _, v := range a.Configs {
		parts = append(parts, fmt.Sprintf("%s:%d:%s", v.Tenant, v.Version, v.Content))
	}
	return strings.Join(parts, " ")
}

func testConfigDeploy(t *testing.T, c store.Configs) {
	ctx := context.Background()
	if a := mustActive(t, c); a.Epoch != 0 || len(a.Configs) != 0 {
		t.Fatalf("a new store: %+v", a)
	}
	changes := mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(globex, "g1"), put(acme, "a1")}, Author: "ops", Message: "first"})
	want := []store.ConfigChange{{Tenant: acme, From: 0, To: 1}, {Tenant: globex, From: 0, To: 1}}
	if !slices.Equal(changes, want) {
		t.Errorf("first deploy = %+v, want %+v", changes, want)
	}
	a := mustActive(t, c)
	if a.Epoch != 1 || activeSummary(a) != "acme:1:a1 globex:1:g1" {
		t.Errorf("after the first deploy: epoch %d, %s", a.Epoch, activeSummary(a))
	}
	v := a.Configs[0]
	if v.Hash != store.ConfigHash([]byte("a1")) || v.Author != "ops" || v.Message != "first" || v.Created.IsZero() {
		t.Errorf("version = %+v", v)
	}

	// The same content again changes nothing, and the epoch stays.
	if changes := mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, "a1"), put(globex, "g1")}}); len(changes) != 0 {
		t.Errorf("an unchanged deploy = %+v, want no change", changes)
	}
	if a := mustActive(t, c); a.Epoch != 1 {
		t.Errorf("epoch after an unchanged deploy = %d, want 1", a.Epoch)
	}

	// A change of one tenant: its next version, the other untouched.
	changes = mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, "a2"), put(globex, "g1")}, Message: "second"})
	if !slices.Equal(changes, []store.ConfigChange{{Tenant: acme, From: 1, To: 2}}) {
		t.Errorf("second deploy = %+v", changes)
	}
	if a := mustActive(t, c); a.Epoch != 2 || activeSummary(a) != "acme:2:a2 globex:1:g1" {
		t.Errorf("after the second deploy: epoch %d, %s", a.Epoch, activeSummary(a))
	}

	// Rollback: version 1 active again; its content comes back.
	change, err := c.Activate(ctx, acme, 1, "ops", "rollback")
	if err != nil || change != (store.ConfigChange{Tenant: acme, From: 2, To: 1}) {
		t.Fatalf("Activate(acme, 1) = %+v, %v", change, err)
	}
	if a := mustActive(t, c); a.Epoch != 3 || activeSummary(a) != "acme:1:a1 globex:1:g1" {
		t.Errorf("after the rollback: epoch %d, %s", a.Epoch, activeSummary(a))
	}
	// Activating the active version changes nothing.
	if change, err := c.Activate(ctx, acme, 1, "ops", "rollback"); err != nil || change.From != 1 || change.To != 1 {
		t.Errorf("Activate(acme, 1) again = %+v, %v", change, err)
	}
	if a := mustActive(t, c); a.Epoch != 3 {
		t.Errorf("epoch after a no-op activate = %d, want 3", a.Epoch)
	}
	// Deploying the content of version 2 again makes version 3: versions
	// are never reused.
	if changes := mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, "a2")}}); !slices.Equal(changes, []store.ConfigChange{{Tenant: acme, From: 1, To: 3}}) {
		t.Errorf("redeploy of a2 = %+v", changes)
	}
	for _, tt := range []struct {
		id      tenant.ID
		version int64
	}{{acme, 9}, {tenant.MustID("initech"), 1}} {
		if _, err := c.Activate(ctx, tt.id, tt.version, "", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Activate(%s, %d) = %v, want ErrNotFound", tt.id, tt.version, err)
		}
	}

	hist, active, err := c.ConfigHistory(ctx, acme, 10)
	if err != nil || active != 3 || len(hist) != 3 {
		t.Fatalf("ConfigHistory = %d versions, active %d, %v", len(hist), active, err)
	}
	for i, want := range []string{"a2", "a2", "a1"} {
		if hist[i].Version != int64(3-i) || string(hist[i].Content) != want || hist[i].Tenant != acme {
			t.Errorf("history[%d] = v%d %q", i, hist[i].Version, hist[i].Content)
		}
	}
	if hist, _, _ := c.ConfigHistory(ctx, acme, 1); len(hist) != 1 || hist[0].Version != 3 {
		t.Errorf("ConfigHistory limit 1 = %+v", hist)
	}
	if hist, active, err := c.ConfigHistory(ctx, tenant.MustID("initech"), 10); err != nil || len(hist) != 0 || active != 0 {
		t.Errorf("history of a tenant never deployed = %+v, %d, %v", hist, active, err)
	}

	// The events: every change of the active version, newest first; the
	// no-op deploy and activate recorded nothing.
	events, err := c.ConfigEvents(ctx, acme, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%s %d>%d %s %s", e.Action, e.From, e.To, e.Author, e.Message))
		if e.Tenant != acme || e.Time.IsZero() {
			t.Errorf("event %+v", e)
		}
	}
	wantEvents := []string{"deploy 1>3  ", "activate 2>1 ops rollback", "deploy 1>2  second", "deploy 0>1 ops first"}
	if !slices.Equal(got, wantEvents) {
		t.Errorf("events = %q, want %q", got, wantEvents)
	}
	if events, _ := c.ConfigEvents(ctx, acme, 1); len(events) != 1 {
		t.Errorf("ConfigEvents limit 1 = %d events", len(events))
	}
}

func testConfigPrune(t *testing.T, c store.Configs) {
	ctx := context.Background()
	mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, "a1"), put(globex, "g1")}, Prune: true})
	// A deploy of one tenant without Prune leaves the others.
	initech := tenant.MustID("initech")
	mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(initech, "i1")}})
	if a := mustActive(t, c); activeSummary(a) != "acme:1:a1 globex:1:g1 initech:1:i1" {
		t.Errorf("after a single deploy: %s", activeSummary(a))
	}
	// A whole set without globex and initech deactivates them.
	changes := mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, "a1")}, Prune: true})
	want := []store.ConfigChange{{Tenant: globex, From: 1}, {Tenant: initech, From: 1}}
	if !slices.Equal(changes, want) {
		t.Errorf("pruning deploy = %+v, want %+v", changes, want)
	}
	a := mustActive(t, c)
	if activeSummary(a) != "acme:1:a1" || a.Epoch != 3 {
		t.Errorf("after pruning: epoch %d, %s", a.Epoch, activeSummary(a))
	}
	if _, active, err := c.ConfigHistory(ctx, globex, 10); err != nil || active != 0 {
		t.Errorf("globex's active version after pruning = %d, %v; want 0", active, err)
	}
	// Deployed again with the same content: its version comes back as the
	// next number, since it was not active.
	if changes := mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(globex, "g1")}}); !slices.Equal(changes, []store.ConfigChange{{Tenant: globex, From: 0, To: 2}}) {
		t.Errorf("globex deployed again = %+v", changes)
	}
	// A rollback can bring back a deactivated tenant too.
	if change, err := c.Activate(ctx, initech, 1, "", ""); err != nil || change != (store.ConfigChange{Tenant: initech, From: 0, To: 1}) {
		t.Errorf("Activate(initech, 1) = %+v, %v", change, err)
	}
	if a := mustActive(t, c); activeSummary(a) != "acme:1:a1 globex:2:g1 initech:1:i1" {
		t.Errorf("at the end: %s", activeSummary(a))
	}
	if events, err := c.ConfigEvents(ctx, globex, 10); err != nil || len(events) != 3 || events[1].Action != store.ActionDeactivate || events[1].From != 1 || events[1].To != 0 {
		t.Errorf("globex's events = %+v, %v; want deploy, deactivate, deploy", events, err)
	}
	// Deactivate one tenant: gone from the active set, its versions kept;
	// again, or a tenant never deployed: ErrNotFound.
	change, err := c.Deactivate(ctx, initech, "ops", "retired")
	if err != nil || change != (store.ConfigChange{Tenant: initech, From: 1}) {
		t.Fatalf("Deactivate(initech) = %+v, %v", change, err)
	}
	if a := mustActive(t, c); activeSummary(a) != "acme:1:a1 globex:2:g1" {
		t.Errorf("after deactivating initech: %s", activeSummary(a))
	}
	for _, id := range []tenant.ID{initech, tenant.MustID("hooli")} {
		if _, err := c.Deactivate(ctx, id, "", ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Deactivate(%s) = %v, want ErrNotFound", id, err)
		}
	}
	if events, _ := c.ConfigEvents(ctx, initech, 1); len(events) != 1 || events[0].Action != store.ActionDeactivate || events[0].Message != "retired" {
		t.Errorf("initech's last event = %+v", events)
	}
	if hist, _, _ := c.ConfigHistory(ctx, initech, 10); len(hist) != 1 {
		t.Errorf("initech's versions after deactivating = %d, want 1", len(hist))
	}
	// Pruning with nothing to deploy deactivates everything.
	mustDeploy(t, c, store.Deploy{Prune: true})
	if a := mustActive(t, c); len(a.Configs) != 0 {
		t.Errorf("after pruning everything: %s", activeSummary(a))
	}
}

func testConfigInvalid(t *testing.T, c store.Configs) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		d    store.Deploy
	}{
		{"no tenant", store.Deploy{Puts: []store.ConfigPut{{Content: []byte("x")}}}},
		{"twice", store.Deploy{Puts: []store.ConfigPut{put(acme, "a"), put(acme, "b")}}},
		{"empty", store.Deploy{Puts: []store.ConfigPut{put(acme, "")}}},
		{"too large", store.Deploy{Puts: []store.ConfigPut{{Tenant: acme, Content: make([]byte, store.MaxConfigBytes+1)}}}},
		{"message not UTF-8", store.Deploy{Puts: []store.ConfigPut{put(acme, "a")}, Message: "\xff"}},
		{"author with NUL", store.Deploy{Puts: []store.ConfigPut{put(acme, "a")}, Author: "a\x00b"}},
		{"message too long", store.Deploy{Puts: []store.ConfigPut{put(acme, "a")}, Message: strings.Repeat("m", store.MaxConfigNoteBytes+1)}},
	} {
		if _, err := c.Deploy(ctx, tt.d); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: Deploy = %v, want ErrInvalid", tt.name, err)
		}
	}
	if _, err := c.Activate(ctx, acme, 0, "", ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Activate(acme, 0) = %v, want ErrInvalid", err)
	}
	if _, err := c.Activate(ctx, acme, 1, "\xff", ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Activate with an author not UTF-8 = %v, want ErrInvalid", err)
	}
	if _, err := c.ConfigEvents(ctx, acme, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ConfigEvents limit 0 = %v, want ErrInvalid", err)
	}
	for _, limit := range []int{0, store.MaxConfigHistory + 1} {
		if _, _, err := c.ConfigHistory(ctx, acme, limit); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ConfigHistory limit %d = %v, want ErrInvalid", limit, err)
		}
	}
	// Nothing was written.
	if a := mustActive(t, c); a.Epoch != 0 || len(a.Configs) != 0 {
		t.Errorf("after invalid calls: %+v", a)
	}
}

// testConfigConcurrent deploys from many writers at once, as replicas
// starting together or operators racing do: versions stay contiguous, the
// epoch counts the changes, and the active version is the last one made.
func testConfigConcurrent(t *testing.T, c store.Configs) {
	const writers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changes []store.ConfigChange
	)
	for w := range writers {
		wg.Go(func() {
			for i := range 3 {
				ch, err := c.Deploy(context.Background(), store.Deploy{Puts: []store.ConfigPut{
					put(acme, fmt.Sprintf("writer %d deploy %d", w, i)),
					put(globex, "the same for everyone"),
				}})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				changes = append(changes, ch...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	var acmeTo []int64
	globexChanges := 0
	for _, ch := range changes {
		switch ch.Tenant {
		case acme:
			acmeTo = append(acmeTo, ch.To)
		case globex:
			globexChanges++
		}
	}
	slices.Sort(acmeTo)
	for i, v := range acmeTo {
		if v != int64(i+1) {
			t.Fatalf("acme's versions = %v, want 1 to %d", acmeTo, writers*3)
		}
	}
	if len(acmeTo) != writers*3 || globexChanges != 1 {
		t.Errorf("%d acme versions, %d globex changes; want %d and 1", len(acmeTo), globexChanges, writers*3)
	}
	a := mustActive(t, c)
	if a.Epoch != int64(writers*3) || len(a.Configs) != 2 || a.Configs[0].Version != int64(writers*3) {
		t.Errorf("at the end: epoch %d, %s", a.Epoch, activeSummary(a))
	}
}

// testConfigBase: a put with a Base deploys only while that version is
// active; otherwise ErrConflict, and nothing of the deploy is made.
func testConfigBase(t *testing.T, c store.Configs) {
	ctx := context.Background()
	mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, "a1"), put(globex, "g1")}, Author: "ops"})
	edit := put(acme, "a2")
	edit.Base = 1
	if changes := mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{edit}, Author: "ops"}); len(changes) != 1 || changes[0].To != 2 {
		t.Fatalf("deploy on base 1 = %+v", changes)
	}
	// An edit made from version 1, now that 2 is active, is refused whole:
	// globex's put in the same deploy is not made either.
	stale := put(acme, "a1 with a key")
	stale.Base = 1
	before := mustActive(t, c)
	_, err := c.Deploy(ctx, store.Deploy{Puts: []store.ConfigPut{stale, put(globex, "g2")}, Author: "ops"})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("deploy on a stale base = %v, want ErrConflict", err)
	}
	if after := mustActive(t, c); activeSummary(after) != activeSummary(before) || after.Epoch != before.Epoch {
		t.Fatalf("a refused deploy changed %s (epoch %d) to %s (epoch %d)", activeSummary(before), before.Epoch, activeSummary(after), after.Epoch)
	}
	// A base for a tenant that has no active version is a conflict too.
	ghost := put(tenant.MustID("initech"), "i1")
	ghost.Base = 1
	if _, err := c.Deploy(ctx, store.Deploy{Puts: []store.ConfigPut{ghost}, Author: "ops"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("deploy on the base of an undeployed tenant = %v, want ErrConflict", err)
	}
}

// testConfigVersion: any version is found by its number, the active one
// or not; another tenant's, or one that never was, is not.
func testConfigVersion(t *testing.T, c store.Configs) {
	ctx := context.Background()
	for _, content := range []string{"a1", "a2", "a3"} {
		mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(acme, content)}, Author: "ops", Message: content})
	}
	mustDeploy(t, c, store.Deploy{Puts: []store.ConfigPut{put(globex, "g1")}, Author: "ops"})
	v, err := c.ConfigVersion(ctx, acme, 2)
	if err != nil || v.Version != 2 || string(v.Content) != "a2" || v.Message != "a2" || v.Tenant != acme || v.Hash != store.ConfigHash([]byte("a2")) {
		t.Fatalf("ConfigVersion(acme, 2) = %+v, %v", v, err)
	}
	if _, err := c.ConfigVersion(ctx, globex, 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("globex's version 2 = %v, want ErrNotFound", err)
	}
	if _, err := c.ConfigVersion(ctx, acme, 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("acme's version 9 = %v, want ErrNotFound", err)
	}
	if _, err := c.ConfigVersion(ctx, acme, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("version 0 = %v, want ErrInvalid", err)
	}
}
