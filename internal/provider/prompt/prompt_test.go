package prompt_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/provider/prompt"
	"github.com/crispy-enigma/crispy/internal/rag"
)

func TestSources(t *testing.T) {
	tests := []struct {
		name     string
		passages []provider.Passage
		want     string
	}{
		{"numbered as rag numbers them", []provider.Passage{{N: 1, Title: "Atlas", Text: "Paris is in France."}, {N: 2, Text: " It is sunny. "}},
			prompt.Header + "\n\n[1] Atlas\nParis is in France.\n\n[2]\nIt is sunny.\n"},
		{"unnumbered", []provider.Passage{{Text: "a"}, {Text: "b"}},
			prompt.Header + "\n\n[1]\na\n\n[2]\nb\n"},
		{"numbered otherwise: the place wins", []provider.Passage{{N: 3, Text: "a"}, {N: 0, Text: "b"}, {N: 3, Text: "c"}},
			prompt.Header + "\n\n[1]\na\n\n[2]\nb\n\n[3]\nc\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prompt.Sources(tt.passages); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestSourcesCitations checks the numbers a model sees against the
// citation code: an answer that cites every source as it was shown cites
// only valid sources, each passage's own.
func TestSourcesCitations(t *testing.T) {
	var passages []provider.Passage
	for i := range 12 {
		passages = append(passages, provider.Passage{N: i + 1, Title: fmt.Sprintf("doc %d", i), Text: fmt.Sprintf("text of passage %d", i)})
	}
	rendered := prompt.Sources(passages)
	for i, p := range passages {
		marker := fmt.Sprintf("[%d] %s\n%s\n", prompt.Number(i), p.Title, p.Text)
		if !strings.Contains(rendered, marker) {
			t.Errorf("passage %d is not shown as %q", i, marker)
		}
	}
	valid, invalid := rag.Citations(strings.TrimPrefix(rendered, prompt.Header), len(passages))
	if len(invalid) > 0 || len(valid) != len(passages) {
		t.Fatalf("citations of the rendered sources: valid %v, invalid %v", valid, invalid)
	}
	for i, n := range valid {
		if n != i+1 || n != passages[i].N {
			t.Errorf("citation %d names %d; rag numbered the passage %d", i, n, passages[i].N)
		}
	}
}

func TestMessages(t *testing.T) {
	req := &provider.ChatRequest{
		Messages: []provider.Message{
			{Role: provider.RoleSystem, Content: "Be brief.\n"},
			{Role: provider.RoleUser, Content: "Weather?", Name: "ann"},
			{Role: provider.RoleAssistant, ToolCalls: []provider.ToolCall{{ID: "c1", Name: "weather", Arguments: `{}`}}},
			{Role: provider.RoleTool, ToolCallID: "c1", Name: "weather", Content: "sunny"},
		},
		Passages: []provider.Passage{{N: 1, Text: "p"}},
	}
	sys := `{"role":"system","content":"Be brief.\n\n` + prompt.Header + `\n\n[1]\np\n"}`
	tests := []struct {
		name    string
		dialect prompt.Dialect
		want    []string
	}{
		{"OpenAI", prompt.Dialect{}, []string{
			sys,
			`{"role":"user","content":"Weather?","name":"ann"}`,
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"weather","arguments":"{}"}}]}`,
			`{"role":"tool","content":"sunny","tool_call_id":"c1"}`,
		}},
		{"Workers AI", prompt.Dialect{NoNullContent: true, ToolName: true}, []string{
			sys,
			`{"role":"user","content":"Weather?","name":"ann"}`,
			`{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"weather","arguments":"{}"}}]}`,
			`{"role":"tool","content":"sunny","name":"weather","tool_call_id":"c1"}`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := prompt.Messages(req, tt.dialect)
			if len(msgs) != len(tt.want) {
				t.Fatalf("%d messages, want %d", len(msgs), len(tt.want))
			}
			for i, m := range msgs {
				b, _ := json.Marshal(m)
				if string(b) != tt.want[i] {
					t.Errorf("message %d:\n got %s\nwant %s", i, b, tt.want[i])
				}
			}
		})
	}

	t.Run("passages without a system message", func(t *testing.T) {
		r := &provider.ChatRequest{Messages: []provider.Message{{Role: provider.RoleUser, Content: "q"}}, Passages: []provider.Passage{{Text: "p"}}, SourcesPrompt: "<sources/>"}
		msgs := prompt.Messages(r, prompt.Dialect{})
		if len(msgs) != 2 || msgs[0].Role != provider.RoleSystem || msgs[0].Content.Text != "<sources/>" || msgs[1].Content.Text != "q" {
			t.Errorf("messages = %+v", msgs)
		}
	})
}

func TestTools(t *testing.T) {
	tools, err := prompt.Tools([]provider.Tool{{Name: "a", Parameters: []byte(` {"type":"object"} `)}, {Name: "b", Description: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tools)
	want := `[{"type":"function","function":{"name":"a","parameters":{"type":"object"}}},{"type":"function","function":{"name":"b","description":"d","parameters":{"type":"object","properties":{}}}}]`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	for _, bad := range [][]provider.Tool{{{}}, {{Name: "x", Parameters: []byte("{")}}} {
		if _, err := prompt.Tools(bad); err == nil {
			t.Errorf("Tools(%+v) = nil error", bad)
		}
	}
}
