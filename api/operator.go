package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OperatorKeyPrefix starts every operator credential ("co_<id>_<random>"),
// so that it is never mistaken for a tenant key ("ck_...").
const OperatorKeyPrefix = "co_"

// OperatorTenant is a tenant as the operator API shows it: its active
// config version in the store and the version this server serves.
type OperatorTenant struct {
	ID string `json:"id"`
	// Version is the active version in the store (0: not deployed).
	Version int64  `json:"version"`
	Hash    string `json:"hash,omitempty"`
	// Served is the version the answering server has in force (0: none);
	// it trails Version for at most the config poll interval.
	Served  int64     `json:"served"`
	Author  string    `json:"author,omitempty"`
	Message string    `json:"message,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// Content is the deployed config, in GET /operator/v1/tenants/{id},
	// with its keys and its limits once defaults are applied.
	Content string          `json:"content,omitempty"`
	Name    string          `json:"name,omitempty"`
	Keys    []OperatorKey   `json:"keys,omitempty"`
	Limits  json.RawMessage `json:"limits,omitempty"`
	// ParseError says why this server cannot parse the deployed config
	// (then Keys and Limits are absent).
	ParseError string `json:"parseError,omitempty"`
}

// OperatorTenantList answers GET /operator/v1/tenants.
type OperatorTenantList struct {
	Epoch   int64            `json:"epoch"`
	Tenants []OperatorTenant `json:"tenants"`
}

// OperatorDeployRequest is the body of POST /operator/v1/tenants/{id}/deploy.
type OperatorDeployRequest struct {
	Content string `json:"content"`
	Message string `json:"message,omitempty"`
	// DryRun validates and checks secrets without deploying.
	DryRun bool `json:"dryRun,omitempty"`
}

// OperatorDeployResult answers a deploy: the active version before and
// after (equal when the content is unchanged), and whether anything changed.
type OperatorDeployResult struct {
	Tenant  string `json:"tenant"`
	From    int64  `json:"from"`
	To      int64  `json:"to"`
	Changed bool   `json:"changed"`
	DryRun  bool   `json:"dryRun,omitempty"`
	// Served is the version the answering server has in force after the
	// deploy (equal to To once it serves it).
	Served int64 `json:"served"`
}

// OperatorRollbackRequest is the body of POST
// /operator/v1/tenants/{id}/rollback: the version to make active, or 0
// for the one before the active version.
type OperatorRollbackRequest struct {
	Version int64  `json:"version,omitempty"`
	Message string `json:"message,omitempty"`
}

// OperatorVersion is one stored config version, in a history.
type OperatorVersion struct {
	Version int64     `json:"version"`
	Hash    string    `json:"hash"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	Created time.Time `json:"created"`
	Active  bool      `json:"active,omitempty"`
}

// OperatorEvent is one change of a tenant's active version.
type OperatorEvent struct {
	Action  string    `json:"action"`
	From    int64     `json:"from"`
	To      int64     `json:"to"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// OperatorHistory answers GET /operator/v1/tenants/{id}/history.
type OperatorHistory struct {
	Tenant   string            `json:"tenant"`
	Active   int64             `json:"active"`
	Versions []OperatorVersion `json:"versions"`
	Events   []OperatorEvent   `json:"events"`
}

// OperatorSecrets answers GET /operator/v1/secrets?names=A,B: which of the
// names the server's environment has, never their values.
type OperatorSecrets struct {
	Present []string `json:"present"`
	Missing []string `json:"missing"`
}

// OperatorTenants lists the deployed tenants.
func (c *Client) OperatorTenants(ctx context.Context) (*OperatorTenantList, error) {
	var out OperatorTenantList
	if err := c.do(ctx, http.MethodGet, "/operator/v1/tenants", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OperatorTenant returns tenant id's active config, with its content.
func (c *Client) OperatorTenant(ctx context.Context, id string) (*OperatorTenant, error) {
	var out OperatorTenant
	if err := c.do(ctx, http.MethodGet, "/operator/v1/tenants/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Deploy deploys content as tenant id's config.
func (c *Client) Deploy(ctx context.Context, id string, req OperatorDeployRequest) (*OperatorDeployResult, error) {
	var out OperatorDeployResult
	if err := c.do(ctx, http.MethodPost, "/operator/v1/tenants/"+url.PathEscape(id)+"/deploy", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Rollback makes an earlier version of tenant id's config active.
func (c *Client) Rollback(ctx context.Context, id string, req OperatorRollbackRequest) (*OperatorDeployResult, error) {
	var out OperatorDeployResult
	if err := c.do(ctx, http.MethodPost, "/operator/v1/tenants/"+url.PathEscape(id)+"/rollback", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Undeploy removes tenant id from the deployment.
func (c *Client) Undeploy(ctx context.Context, id, message string) (*OperatorDeployResult, error) {
	var out OperatorDeployResult
	path := "/operator/v1/tenants/" + url.PathEscape(id) + "?message=" + url.QueryEscape(message)
	if err := c.do(ctx, http.MethodDelete, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// History returns up to limit versions and events of tenant id's config.
func (c *Client) History(ctx context.Context, id string, limit int) (*OperatorHistory, error) {
	var out OperatorHistory
	path := "/operator/v1/tenants/" + url.PathEscape(id) + "/history?limit=" + strconv.Itoa(limit)
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Secrets asks which of names the server's environment has.
func (c *Client) Secrets(ctx context.Context, names []string) (*OperatorSecrets, error) {
	var out OperatorSecrets
	path := "/operator/v1/secrets?names=" + url.QueryEscape(strings.Join(names, ","))
	if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// OperatorKey is a tenant's API key as the operator API shows it: never
// its hash, never the key.
type OperatorKey struct {
	ID          string    `json:"id"`
	Scopes      []string  `json:"scopes"`
	Description string    `json:"description,omitempty"`
	Dev         bool      `json:"dev,omitempty"`
	Expires     time.Time `json:"expires,omitzero"`
}

// OperatorKeyRequest is the body of POST /operator/v1/tenants/{id}/keys.
type OperatorKeyRequest struct {
	// ID of the new key; absent: "k" and today's date.
	ID          string   `json:"id,omitempty"`
	Scopes      []string `json:"scopes"`
	Description string   `json:"description,omitempty"`
	// ExpiresIn is a Go duration ("720h") after which the key stops
	// working; absent: never.
	ExpiresIn string `json:"expiresIn,omitempty"`
	Message   string `json:"message,omitempty"`
}

// OperatorKeyResult answers POST /operator/v1/tenants/{id}/keys: the new
// key, shown this once, and the deploy that added it.
type OperatorKeyResult struct {
	Key    string               `json:"key"`
	KeyID  string               `json:"keyId"`
	Deploy OperatorDeployResult `json:"deploy"`
}

// Drift statuses of OperatorDriftTenant.
const (
	DriftInSync       = "in-sync"
	DriftDiffers      = "differs"
	DriftOnlyLocal    = "only-local"
	DriftOnlyDeployed = "only-deployed"
)

// OperatorDrift answers GET /operator/v1/drift: how the tenants folder of
// the answering server compares with what its store has active.
type OperatorDrift struct {
	// Env is the answering server's environment (dev, stage, prod).
	Env string `json:"env"`
	// Source is where the server takes tenant configs from: "folder" or
	// "store". A server on "store" has no folder to compare: Tenants is
	// empty and Folder too.
	Source  string                `json:"source"`
	Folder  string                `json:"folder,omitempty"`
	Tenants []OperatorDriftTenant `json:"tenants"`
	// Error says why the folder could not be compared (it is invalid as
	// a whole: a tenant's file does not parse, two tenants share a host).
	Error string `json:"error,omitempty"`
}

// OperatorDriftTenant is one tenant's drift status.
type OperatorDriftTenant struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version int64  `json:"version,omitempty"` // active version in the store
	// LocalHash and Hash are the content hashes of the folder's file and
	// of the active version.
	LocalHash string `json:"localHash,omitempty"`
	Hash      string `json:"hash,omitempty"`
}
