package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/httpapi"
	"github.com/crispy-enigma/crispy/internal/store/sqlite"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
	"github.com/crispy-enigma/crispy/internal/tools/builtin"
	"github.com/crispy-enigma/crispy/tenants"
)

// newToolsServer runs the real HTTP API over the example tenants, with the
// builtin tools and an audit log in a temporary database.
func newToolsServer() (srv *httptest.Server, cleanup func(), err error) {
	cfgs, err := tenant.LoadFS(tenants.Examples, "tenants", tenant.Options{AllowDevKeys: true})
	if err != nil {
		return nil, nil, err
	}
	reg, err := tenant.NewRegistry(cfgs, tenant.Options{AllowDevKeys: true})
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "crispy-example")
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "crispy.db"), sqlite.Options{SweepInterval: -1})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	d := tools.New(tools.Options{Registry: builtin.Registry(builtin.Deps{}), Audit: db.Audit()})
	srv = httptest.NewServer(httpapi.New(httpapi.Options{
		Registry: func() *tenant.Registry { return reg },
		Tools:    d,
		Audit:    db.Audit(),
	}))
	return srv, func() { srv.Close(); db.Close(); os.RemoveAll(dir) }, nil
}

func ExampleClient_InvokeTool() {
	srv, cleanup, err := newToolsServer()
	if err != nil {
		panic(err)
	}
	defer cleanup()
	c, _ := api.NewClient(srv.URL, "ck_dev_acme", nil)
	ctx := context.Background()

	res, err := c.InvokeTool(ctx, "extract_entities", json.RawMessage(`{"text":"Mail jane@example.com before 1 May 2026.","types":["email","date"]}`))
	if err != nil {
		panic(err)
	}
	var out struct {
		Entities []struct{ Type, Text string }
	}
	_ = json.Unmarshal(res.Result, &out)
	fmt.Println(out.Entities)

	// globex does not enable extract_entities: for its key, the tool does not exist.
	g, _ := api.NewClient(srv.URL, "ck_dev_globex", nil)
	_, err = g.InvokeTool(ctx, "extract_entities", json.RawMessage(`{"text":"x"}`))
	fmt.Println(err)

	page, err := c.Audit(ctx, api.AuditQuery{Limit: 10})
	if err != nil {
		panic(err)
	}
	for _, r := range page.Records {
		fmt.Println(r.Tool, r.Outcome, r.KeyID)
	}
	// Output:
	// [{email jane@example.com} {date 1 May 2026}]
	// not_found: tool "extract_entities" does not exist
	// extract_entities ok dev
}
