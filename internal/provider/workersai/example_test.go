package workersai_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/workersai"
)

// The example streams an answer through AI Gateway from a local stand-in
// for it. In production BaseURL is left empty and the gateway's default
// URL is used.
func ExampleClient_Chat() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Path)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("cf-aig-cache-status", "MISS")
		io.WriteString(w, "data: {\"response\":\"Hello\"}\n\ndata: {\"response\":\" world\"}\n\n")
		io.WriteString(w, "data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\ndata: [DONE]\n\n")
	}))
	defer upstream.Close()

	c, err := workersai.New(workersai.Config{
		AccountID: "0123456789abcdef0123456789abcdef",
		APIToken:  "token-from-the-environment",
		Gateway:   &workersai.GatewayConfig{ID: "crispy", BaseURL: upstream.URL + "/v1"},
	})
	if err != nil {
		panic(err)
	}
	st, err := c.Chat(context.Background(), &provider.ChatRequest{
		Model:    "@cf/meta/llama-3.1-8b-instruct",
		Messages: []provider.Message{{Role: provider.RoleUser, Content: "Say hello"}},
		Meta:     provider.Meta{Tenant: "acme", Route: "chat", RequestID: "req-1"},
	})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	for {
		d, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%q", d.Text)
		if d.Usage != nil {
			fmt.Printf(" finish=%s prompt=%d completion=%d", d.FinishReason, d.Usage.PromptTokens, d.Usage.CompletionTokens)
		}
		fmt.Println()
	}
	fmt.Println("cache hit:", st.(interface{ CacheHit() bool }).CacheHit())
	// Output:
	// /v1/0123456789abcdef0123456789abcdef/crispy/workers-ai/@cf/meta/llama-3.1-8b-instruct
	// "Hello"
	// " world"
	// "" finish=stop prompt=9 completion=2
	// cache hit: false
}
