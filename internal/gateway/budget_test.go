package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

func speechTenant(t *testing.T, tenantChars, keyChars, tokens int64) (*tenant.Tenant, *tenant.Key) {
	t.Helper()
	c := &tenant.Config{ID: "acme", Name: "Acme", Keys: []tenant.Key{{ID: "k1", Hash: tenant.HashKey(tenant.NewKey()), Scopes: []tenant.Scope{tenant.ScopeTTS}, Budget: tenant.Budget{TTSCharsPerDay: keyChars}}}}
	c.Limits.Budget = tenant.Budget{TTSCharsPerDay: tenantChars, TokensPerDay: tokens}
	reg, err := tenant.NewRegistry([]*tenant.Config{c}, tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := reg.Tenant("acme")
	return tn, &tn.Config.Keys[0]
}

func TestSpeechBudget(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	b := NewBudgets(func() time.Time { return now })
	tn, key := speechTenant(t, 100, 0, 10)

	r1, err := b.ReserveSpeech(tn, key, 60)
	if err != nil {
		t.Fatal(err)
	}
	// Held but not settled: a second call that does not fit beside it is refused.
	_, err = b.ReserveSpeech(tn, key, 41)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeBudgetExceeded || e.Details["budget"] != "ttsCharsPerDay" {
		t.Fatalf("err = %v, want budget_exceeded on ttsCharsPerDay", err)
	}
	r2, err := b.ReserveSpeech(tn, key, 40)
	if err != nil {
		t.Fatalf("40 more fit exactly: %v", err)
	}
	r1.SettleAmount(Amount{TTSChars: 60})
	r2.SettleAmount(Amount{TTSChars: 10}) // spoke less than held
	if got := b.UsedSpeech("acme", ""); got != 70 {
		t.Errorf("used %d characters, want 70", got)
	}
	// Speech does not count against tokens, nor tokens against speech.
	if tokens, _ := b.Used("acme", ""); tokens != 0 {
		t.Errorf("speech settled %d tokens", tokens)
	}
	rt, err := b.Reserve(tn, key, 10, 0)
	if err != nil {
		t.Fatalf("a token call is not held against speech: %v", err)
	}
	rt.Settle(10, 0)
	if _, err := b.ReserveSpeech(tn, key, 30); err != nil {
		t.Fatalf("30 characters fit after 70: %v", err)
	}

	// The next day starts afresh.
	now = now.Add(24 * time.Hour)
	if got := b.UsedSpeech("acme", ""); got != 0 {
		t.Errorf("used %d characters on a new day, want 0", got)
	}
}

func TestSpeechBudgetOfKeyAndSeed(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	b := NewBudgets(func() time.Time { return now })
	tn, key := speechTenant(t, 0, 50, 0)
	b.Seed("acme", "k1", now.Add(-time.Hour), Amount{TTSChars: 45})
	_, err := b.ReserveSpeech(tn, key, 6)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeBudgetExceeded || e.Details["scope"] != "key" {
		t.Fatalf("err = %v, want budget_exceeded of the key", err)
	}
	if _, err := b.ReserveSpeech(tn, key, 5); err != nil {
		t.Fatal(err)
	}
	// Yesterday's usage does not count today.
	b2 := NewBudgets(func() time.Time { return now })
	b2.Seed("acme", "k1", now.Add(-24*time.Hour), Amount{TTSChars: 45})
	if _, err := b2.ReserveSpeech(tn, key, 50); err != nil {
		t.Fatal(err)
	}
}
