package openai_test

import (
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
	"github.com/crispy-enigma/crispy/internal/provider/providertest"
)

func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  mockupstream.Config
	}{
		{"fast", mockupstream.Config{CompletionTokens: 50}},
		{"paced", mockupstream.Config{CompletionTokens: 50, TTFT: 10 * time.Millisecond, TokensPerSecond: 200}},
		{"one token", mockupstream.Config{Reply: "ok"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := start(t, tt.cfg, nil)
			providertest.TestChatter(t, c, chatReq("tell me something"))
		})
	}
}
