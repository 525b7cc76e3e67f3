package tokens_test

import (
	"fmt"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

func ExampleCount() {
	fmt.Println(tokens.Count("hello world"))
	// Output: 2
}

func ExampleCountMessages() {
	msgs := []provider.Message{
		{Role: provider.RoleSystem, Content: "Answer briefly."},
		{Role: provider.RoleUser, Content: "hello world"},
	}
	fmt.Println(tokens.CountMessages(msgs))
	// Output: 16
}

func ExampleTruncate() {
	fmt.Println(tokens.Truncate("The quick brown fox jumps over the lazy dog.", 4))
	// Output: The quick brown fox
}
