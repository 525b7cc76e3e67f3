package app_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

// TestOfficialSDK drives crispy with OpenAI's own Go SDK, changing only the
// base URL and the key, as a user of the SDK would.
func TestOfficialSDK(t *testing.T) {
	s, _ := startGateway(t, mockupstream.Config{Reply: "Hello from the gateway"}, "{}")
	client := openai.NewClient(option.WithBaseURL(s.url+"/v1/"), option.WithAPIKey("ck_dev_acme"), option.WithMaxRetries(0))
	ctx := t.Context()
	params := openai.ChatCompletionNewParams{
		Model:    "mock/gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Say hello")},
	}

	c, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].Message.Content != "Hello from the gateway" || c.Usage.CompletionTokens != 4 || c.Model != "mock/gpt-test" {
		t.Errorf("completion = %q, usage %+v, model %q", c.Choices[0].Message.Content, c.Usage, c.Model)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != "Hello from the gateway" || acc.Usage.TotalTokens == 0 {
		t.Errorf("streamed = %q, usage %+v", acc.Choices[0].Message.Content, acc.Usage)
	}

	emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "builtin/hash-64",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || len(emb.Data[1].Embedding) != 64 {
		t.Errorf("embeddings = %d items", len(emb.Data))
	}

	page, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) == 0 || page.Data[0].ID != "mock/gpt-test" {
		t.Errorf("models = %+v", page.Data)
	}

	// Errors surface as the SDK's typed error with our code.
	params.Model = "mock/gpt-5"
	_, err = client.Chat.Completions.New(ctx, params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "model_not_allowed" {
		t.Errorf("err = %v, want a 400 model_not_allowed openai.Error", err)
	}
	bad := openai.NewClient(option.WithBaseURL(s.url+"/v1/"), option.WithAPIKey("ck_wrong"), option.WithMaxRetries(0))
	if _, err := bad.Models.List(ctx); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("wrong key: err = %v, want 401", err)
	}
	if !strings.Contains(apiErr.Message, "key") {
		t.Errorf("401 message = %q", apiErr.Message)
	}
}
