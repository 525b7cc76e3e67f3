package openai_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/openai"
)

func Example() {
	mock, hs := mockupstream.NewHTTPTest(mockupstream.Config{Reply: "Paris is the capital of France."})
	defer hs.Close()
	defer mock.Close()

	c, err := openai.New(openai.Config{Name: "local", BaseURL: hs.URL + "/v1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := c.Chat(context.Background(), &provider.ChatRequest{
		Model:    "mock-chat",
		Messages: []provider.Message{{Role: provider.RoleUser, Content: "What is the capital of France?"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	for {
		d, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Println("\nerror:", err)
			return
		}
		fmt.Print(d.Text)
		if d.Usage != nil {
			fmt.Printf("\n%d prompt tokens, %d completion tokens\n", d.Usage.PromptTokens, d.Usage.CompletionTokens)
		}
	}
	// Output:
	// Paris is the capital of France.
	// 12 prompt tokens, 6 completion tokens
}
