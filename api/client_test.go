package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/httpapi"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/tenants"
)

// newServer runs the real HTTP API over the example tenants.
func newServer() (*httptest.Server, error) {
	cfgs, err := tenant.LoadFS(tenants.Examples, "tenants", tenant.Options{AllowDevKeys: true})
	if err != nil {
		return nil, err
	}
	reg, err := tenant.NewRegistry(cfgs, tenant.Options{AllowDevKeys: true})
	if err != nil {
		return nil, err
	}
	return httptest.NewServer(httpapi.New(httpapi.Options{
		Registry: func() *tenant.Registry { return reg },
		Version:  "example",
	})), nil
}

func ExampleClient_Health() {
	srv, err := newServer()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	c, err := api.NewClient(srv.URL, "ck_dev_acme", nil)
	if err != nil {
		panic(err)
	}
	h, err := c.Health(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Tenant, h.Version, h.Storage.OK)
	// Output: acme example true
}

func TestClientErrors(t *testing.T) {
	srv, err := newServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for key, want := range map[string]api.ErrorCode{
		"":             api.CodeUnauthenticated,
		"ck_not_a_key": api.CodeUnauthenticated,
	} {
		c, _ := api.NewClient(srv.URL, key, nil)
		_, err := c.Health(context.Background())
		var e *api.Error
		if !errors.As(err, &e) || e.Code != want {
			t.Errorf("key %q: err = %v, want %s", key, err, want)
		}
	}
	for _, bad := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := api.NewClient(bad, "k", nil); err == nil {
			t.Errorf("NewClient(%q) succeeded", bad)
		}
	}
}
