package api

import (
	"context"
	"net/http"
)

// Me is the data of GET /me: who the caller is and what its key may do,
// so that a client (the web console) offers only what will work.
type Me struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name,omitempty"`
	// KeyID is the caller's key; "" for an anonymous caller of a public route.
	KeyID  string   `json:"keyId,omitempty"`
	Scopes []string `json:"scopes"`
	// Models are the chat models the tenant allows, the default first.
	Models []string `json:"models"`
	// Features says which capabilities the tenant has turned on.
	Features Features `json:"features"`
}

// Features are the capabilities a tenant's config turns on.
type Features struct {
	// RAG: chat answers from the knowledge base, with citations.
	RAG bool `json:"rag"`
	// TTS: text to speech is configured.
	TTS bool `json:"tts"`
	// Tools are the tools the tenant enables (the key's scopes decide
	// which it may call: GET /tools).
	Tools []string `json:"tools"`
}

// Me returns who the client's key belongs to and what it may do.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	if err := c.do(ctx, http.MethodGet, "/me", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
