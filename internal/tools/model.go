package tools

import (
	"context"
	"encoding/json"
	"io"
	"strconv"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/gateway"
	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Limits of a model turn with tools.
const (
	// MaxCallsPerRound is the most tool calls run in one round; a model
	// that asks for more gets the rest refused as capped.
	MaxCallsPerRound = 16
)

// ModelTools returns the tools c may invoke in the shape a model is given
// them: name, description and the JSON Schema of the arguments.
func (d *Dispatcher) ModelTools(c tenant.Caller) []provider.Tool {
	var out []provider.Tool
	for _, t := range d.Permitted(c) {
		out = append(out, provider.Tool{Name: t.Name, Description: t.Description, Parameters: t.Args})
	}
	return out
}

// ChatFunc starts one model call of a turn; the gateway's Chat with the
// caller's route, key and request ID.
type ChatFunc func(ctx context.Context, req provider.ChatRequest) (*gateway.Stream, error)

// Turn is a model conversation in which the model may call tools. It is a
// pull iterator over the text of the answer, like gateway.Stream: Recv
// returns the text of every round as it comes; when a round ends with tool
// calls, Turn runs them through the dispatcher as the caller, feeds their
// results back as tool messages and starts the next round, until the model
// answers without tool calls or the rounds run out.
//
// The model is offered the tools the caller may invoke; a call of any
// other tool is refused as Invoke refuses it (not run, audited as denied)
// and its error is what the model reads. After maxRounds rounds the model
// is called once more without tools, and tool calls it still makes are
// refused as capped.
type Turn struct {
	d         *Dispatcher
	ctx       context.Context
	c         tenant.Caller
	chat      ChatFunc
	req       provider.ChatRequest
	maxRounds int

	cur    *gateway.Stream
	rounds int
	usage  provider.Usage // of the rounds before cur
	calls  []provider.ToolCall
	text   []byte
	finish string
	done   bool
}

// Turn starts a turn: the first model call, with the tools c may invoke,
// for at most maxRounds rounds (the tenant's tools.maxRounds). An error is
// the first call's, before any output.
func (d *Dispatcher) Turn(ctx context.Context, c tenant.Caller, req provider.ChatRequest, maxRounds int, chat ChatFunc) (*Turn, error) {
	req.Tools = d.ModelTools(c)
	req.Messages = append([]provider.Message(nil), req.Messages...)
	t := &Turn{d: d, ctx: ctx, c: c, chat: chat, req: req, maxRounds: maxRounds}
	st, err := chat(ctx, req)
	if err != nil {
		return nil, err
	}
	t.cur = st
	return t, nil
}

// Recv returns the next piece of the answer's text, io.EOF after the last
// round, or the error that broke the turn.
func (t *Turn) Recv() (provider.Delta, error) {
	for !t.done {
		d, err := t.cur.Recv()
		if err == io.EOF {
			if len(t.calls) == 0 {
				t.finish, t.done = t.cur.FinishReason(), true
				break
			}
			if err := t.next(); err != nil {
				return provider.Delta{}, err
			}
			continue
		}
		if err != nil {
			return provider.Delta{}, err
		}
		t.calls = append(t.calls, d.ToolCalls...)
		if d.Text != "" {
			t.text = append(t.text, d.Text...)
			return provider.Delta{Text: d.Text}, nil
		}
	}
	return provider.Delta{}, io.EOF
}

// next runs the calls of the round that ended and starts the next one.
func (t *Turn) next() error {
	t.cur.Close()
	calls := t.calls
	t.calls = nil
	for i := range calls {
		if calls[i].ID == "" {
			calls[i].ID = "call_" + strconv.Itoa(t.rounds) + "_" + strconv.Itoa(i)
		}
	}
	if t.rounds >= t.maxRounds {
		for _, call := range calls {
			t.d.refuse(t.ctx, t.c, call, OutcomeCapped)
		}
		t.finish, t.done = "stop", true
		return nil
	}
	t.req.Messages = append(t.req.Messages, provider.Message{Role: provider.RoleAssistant, Content: string(t.text), ToolCalls: calls})
	t.text = nil
	for i, call := range calls {
		var content []byte
		if i >= MaxCallsPerRound {
			t.d.refuse(t.ctx, t.c, call, OutcomeCapped)
			content = errorContent(api.Errorf(api.CodeRateLimited, "at most %d tool calls are run in one round", MaxCallsPerRound))
		} else {
			out, err := t.d.Invoke(t.ctx, t.c, call.Name, []byte(call.Arguments), true)
			if err != nil {
				if t.ctx.Err() != nil {
					return err
				}
				content = errorContent(api.AsError(err))
			} else {
				content = out
			}
		}
		t.req.Messages = append(t.req.Messages, provider.Message{Role: provider.RoleTool, ToolCallID: call.ID, Content: string(content)})
	}
	t.rounds++
	if t.rounds >= t.maxRounds {
		t.req.Tools = nil
	}
	st, err := t.chat(t.ctx, t.req)
	if err != nil {
		return err
	}
	t.add(t.cur.Usage())
	t.cur = st
	return nil
}

// errorContent is what a model reads for a call that failed.
func errorContent(e *api.Error) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": e.Code, "message": e.Message}})
	return b
}

// refuse audits a call that is not run.
func (d *Dispatcher) refuse(ctx context.Context, c tenant.Caller, call provider.ToolCall, outcome string) {
	rec := store.AuditRecord{
		Time: d.now().UTC(), Tenant: c.Tenant.ID, RequestID: c.RequestID, KeyID: c.KeyID(), Tool: auditName(call.Name),
		ArgsSHA256: ArgsHash(orEmptyObject([]byte(call.Arguments))), Outcome: outcome, FromModel: true,
	}
	_ = d.record(ctx, rec)
}

func (t *Turn) add(u provider.Usage) {
	t.usage.PromptTokens += u.PromptTokens
	t.usage.CompletionTokens += u.CompletionTokens
	t.usage.Estimated = t.usage.Estimated || u.Estimated
}

// Close ends the turn; safe to call more than once.
func (t *Turn) Close() error { return t.cur.Close() }

// Model returns the model that answered the last round.
func (t *Turn) Model() string { return t.cur.Model() }

// Usage returns the tokens of every round, once the turn is closed.
func (t *Turn) Usage() provider.Usage {
	u := t.usage
	cur := t.cur.Usage()
	u.PromptTokens += cur.PromptTokens
	u.CompletionTokens += cur.CompletionTokens
	u.Estimated = u.Estimated || cur.Estimated
	return u
}

// FinishReason returns why the turn ended, once it has.
func (t *Turn) FinishReason() string { return t.finish }

// Rounds returns the tool rounds run so far.
func (t *Turn) Rounds() int { return t.rounds }
