// Package schema embeds the JSON Schemas that are the single source of truth
// for Crispy Enigma's configuration files.
package schema

import _ "embed"

// Tenant is schema/tenant.schema.json, the JSON Schema (2020-12) of
// tenants/<id>/tenant.jsonc.
//
//go:embed tenant.schema.json
var Tenant []byte

// SearchResponse is schema/search.response.schema.json, the JSON Schema
// (2020-12) of the POST /search result and of its SSE events ($defs).
//
//go:embed search.response.schema.json
var SearchResponse []byte
