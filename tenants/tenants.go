// Package tenants embeds the example tenants, acme and globex, and acme's
// example knowledge base, so that the binary carries them wherever it runs.
//
// This folder is also the user-facing tenants folder of a checkout:
// 'crispy serve' run from the repository root reads ./tenants from disk,
// and 'crispy tenant new' writes new tenants beside the examples. Only the
// files named below are embedded, so a tenant added here never reaches the
// binary or the tests, which read the examples from Examples.
package tenants

import "embed"

// Examples holds acme/tenant.jsonc, acme/docs/*.md and globex/tenant.jsonc.
// A server in dev with no tenants folder serves them, 'crispy init' writes
// them out, and tests load them from here.
//
//go:embed acme/tenant.jsonc acme/docs/*.md globex/tenant.jsonc
var Examples embed.FS

// IDs are the example tenants, sorted.
var IDs = []string{"acme", "globex"}
