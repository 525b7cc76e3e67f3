package postgres_test

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/store/postgres"
	"github.com/crispy-enigma/crispy/internal/store/storetest"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

var (
	acme   = tenant.MustID("acme")
	globex = tenant.MustID("globex")
)

func TestKV(t *testing.T) {
	storetest.TestKV(t, func(t *testing.T) store.KV {
		return postgres.OpenTest(t, postgres.Options{}).KV()
	})
}

func TestUsage(t *testing.T) {
	storetest.TestUsage(t, func(t *testing.T) store.Usage {
		return postgres.OpenTest(t, postgres.Options{}).Usage()
	})
}

func TestSessions(t *testing.T) {
	storetest.TestSessions(t, func(t *testing.T) store.Sessions {
		return postgres.OpenTest(t, postgres.Options{}).Sessions()
	})
}

func TestDocuments(t *testing.T) {
	storetest.TestDocuments(t, func(t *testing.T) store.Documents {
		return postgres.OpenTest(t, postgres.Options{}).Documents()
	})
}

func TestAudit(t *testing.T) {
	storetest.TestAudit(t, func(t *testing.T) store.Audit {
		return postgres.OpenTest(t, postgres.Options{}).Audit()
	})
}

func TestConfigs(t *testing.T) {
	storetest.TestConfigs(t, func(t *testing.T) store.Configs {
		return postgres.OpenTest(t, postgres.Options{}).Configs()
	})
}
