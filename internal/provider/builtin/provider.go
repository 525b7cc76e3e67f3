package builtin

import (
	"context"
	"fmt"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// Name is the provider's name, in model references ("builtin/extractive")
// and in its errors.
const Name = "builtin"

// The models Provider serves.
const (
	ChatModel  = "extractive"
	EmbedModel = "hash-384" // and any other "hash-N", N from MinDimensions to MaxDimensions
)

// Provider serves the builtin models by name.
type Provider struct {
	chat  Extractive
	embed HashEmbedder
}

var (
	_ provider.Chatter  = (*Provider)(nil)
	_ provider.Embedder = (*Provider)(nil)
)

// New returns the builtin provider.
func New() *Provider { return &Provider{} }

// Models lists the chat and embedding models, for GET /v1/models. Of the
// hash-N family only the default is listed.
func (p *Provider) Models() []string { return []string{ChatModel, EmbedModel} }

// Chat answers with the extractive model. Any other model fails with
// provider.KindNotFound; an empty name means ChatModel.
func (p *Provider) Chat(ctx context.Context, req *provider.ChatRequest) (provider.Stream, error) {
	if req == nil {
		return nil, badRequest("no chat request")
	}
	if req.Model != ChatModel && req.Model != "" {
		return nil, notFound(req.Model)
	}
	return p.chat.Chat(ctx, req)
}

// Embed embeds with a hash-N model (see HashEmbedder.Embed). Any other
// model fails with provider.KindNotFound; an empty name means EmbedModel,
// or the hash model of req.Dimensions.
func (p *Provider) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	return p.embed.Embed(ctx, req)
}

func badRequest(msg string) error {
	return &provider.Error{Provider: Name, Kind: provider.KindBadRequest, Message: msg}
}

func notFound(model string) error {
	return &provider.Error{Provider: Name, Kind: provider.KindNotFound, Message: fmt.Sprintf("no model %q", model)}
}
