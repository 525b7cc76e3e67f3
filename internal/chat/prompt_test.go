package chat

import (
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tokens"
)

func turn(q, a string) []store.Message {
	return []store.Message{{Role: "user", Content: q}, {Role: "assistant", Content: a}}
}

func TestPromptTrimsOldestFirst(t *testing.T) {
	var history []store.Message
	for i := range 10 {
		history = append(history, turn(strings.Repeat("question ", 20)+string(rune('a'+i)), strings.Repeat("answer ", 20))...)
	}
	perMsg := tokens.Count(history[0].Content) + messageOverhead
	system := "You are terse."
	fixed := tokens.Count(system) + tokens.Count("new?") + 2*messageOverhead

	for _, keepMsgs := range []int{0, 1, 2, 5, 20} {
		budget := fixed + keepMsgs*perMsg + perMsg/2
		msgs, err := prompt(system, history, "new?", budget)
		if err != nil {
			t.Fatal(err)
		}
		if msgs[0].Role != "system" || msgs[0].Content != system || msgs[len(msgs)-1].Content != "new?" {
			t.Fatalf("keep %d: system or new message dropped: %+v", keepMsgs, msgs)
		}
		kept := msgs[1 : len(msgs)-1]
		want := keepMsgs
		if want%2 == 1 {
			want-- // an answer without its question is dropped too
		}
		if len(kept) != want {
			t.Errorf("budget for %d messages kept %d, want %d", keepMsgs, len(kept), want)
		}
		// What is kept is the newest, starting with a question.
		if len(kept) > 0 {
			if kept[0].Role != "user" || kept[len(kept)-1].Content != history[len(history)-1].Content {
				t.Errorf("keep %d: kept %+v", keepMsgs, kept)
			}
		}
		total := 0
		for _, m := range msgs {
			total += tokens.Count(m.Content) + messageOverhead
		}
		if total > budget {
			t.Errorf("keep %d: prompt of %d tokens over the budget of %d", keepMsgs, total, budget)
		}
	}
}

func TestPromptTooLong(t *testing.T) {
	_, err := prompt("", nil, strings.Repeat("word ", 500), 100)
	if e := api.AsError(err); e == nil || e.Code != api.CodePayloadTooLarge {
		t.Errorf("err = %v, want payload_too_large", err)
	}
}
