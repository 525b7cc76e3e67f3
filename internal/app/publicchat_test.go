package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/app"
	"github.com/crispy-enigma/crispy/internal/sse"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// publicChat is a tenant whose chat routes are public on its host, with
// two chat keys and an admin key.
type publicChat struct {
	t                *testing.T
	s                *started
	host             string
	alice, bob, boss string
}

func startPublicChat(t *testing.T) *publicChat {
	t.Helper()
	p := &publicChat{t: t, host: "pub.localhost", alice: tenant.NewKey(), bob: tenant.NewKey(), boss: tenant.NewKey()}
	dir := t.TempDir()
	writeTenant(t, dir, "pub", fmt.Sprintf(`{
  "id": "pub", "name": "Public chat",
  "hosts": [%q], "public": ["chat"],
  "keys": [
    {"id": "alice", "hash": %q, "scopes": ["chat"]},
    {"id": "bob", "hash": %q, "scopes": ["chat"]},
    {"id": "boss", "hash": %q, "scopes": ["chat", "admin"]},
  ],
  "models": {"chat": {"model": "builtin/extractive"}, "embedding": {"model": "builtin/hash-64"}},
}`, p.host, tenant.HashKey(p.alice), tenant.HashKey(p.bob), tenant.HashKey(p.boss)))
	p.s = startDeps(t, testConfig(t, dir), app.Deps{})
	return p
}

// call sends a request to the tenant's host, with the key (when not "")
// and the headers given in pairs, and returns the status and envelope.
func (p *publicChat) call(method, path, key, body string, headers ...string) (int, api.Envelope, http.Header) {
	p.t.Helper()
	req, err := http.NewRequestWithContext(p.t.Context(), method, p.s.url+path, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Host = p.host
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	var env api.Envelope
	decodeBody(p.t, res, &env)
	return res.StatusCode, env, res.Header
}

// turn sends a non-streaming turn and returns its status, result and error.
func (p *publicChat) turn(key, token, session, message string, headers ...string) (int, api.ChatResult, *api.Error, http.Header) {
	p.t.Helper()
	b, _ := json.Marshal(map[string]any{"sessionId": session, "message": message, "stream": false})
	status, env, h := p.call("POST", "/chat", key, string(b), append([]string{api.SessionTokenHeader, token}, headers...)...)
	var out api.ChatResult
	if env.OK {
		if err := json.Unmarshal(env.Data, &out); err != nil {
			p.t.Fatal(err)
		}
	}
	return status, out, env.Error, h
}

func (p *publicChat) history(key, token, session string) int {
	p.t.Helper()
	status, _, _ := p.call("GET", "/chat/"+session+"/history", key, "", api.SessionTokenHeader, token)
	return status
}

func (p *publicChat) delete(key, token, session string) int {
	p.t.Helper()
	status, _, _ := p.call("DELETE", "/chat/"+session, key, "", api.SessionTokenHeader, token)
	return status
}

// TestPublicChatSessionsBelongToTheirCreator checks, on a host whose chat
// routes are public, that a session can be continued, read and deleted by
// whoever created it only: the anonymous caller holding the session token
// it was given, or the key that created it (and, for reading and deleting,
// a key of the tenant with the admin scope). Anyone else gets 404, as for a
// session that does not exist.
func TestPublicChatSessionsBelongToTheirCreator(t *testing.T) {
	p := startPublicChat(t)

	// An anonymous caller starts a session and gets its token, in the
	// result and in a header.
	status, a, e, h := p.turn("", "", "", "anonymous A asks")
	if status != 200 {
		t.Fatalf("anonymous turn = %d %+v", status, e)
	}
	tokenA := a.SessionToken
	if tokenA == "" || h.Get(api.SessionTokenHeader) != tokenA {
		t.Errorf("new anonymous session: token %q in the result, %q in the header; want one, the same", tokenA, h.Get(api.SessionTokenHeader))
	}
	_, b, _, _ := p.turn("", "", "", "anonymous B asks")
	tokenB := b.SessionToken

	// Nobody else may read, continue or delete it.
	others := []struct {
		name       string
		key, token string
	}{
		{"anonymous without a token", "", ""},
		{"anonymous with another session's token", "", tokenB},
		{"anonymous with a made-up token", "", "st_" + strings.Repeat("0", 43)},
		{"a chat key", p.alice, ""},
		{"a chat key with the token", p.bob, tokenA},
	}
	for _, o := range others {
		if got := p.history(o.key, o.token, a.SessionID); got != 404 {
			t.Errorf("%s: history = %d, want 404", o.name, got)
		}
		if status, _, e, _ := p.turn(o.key, o.token, a.SessionID, "let me in"); status != 404 {
			t.Errorf("%s: turn = %d %+v, want 404", o.name, status, e)
		}
		if got := p.delete(o.key, o.token, a.SessionID); got != 404 {
			t.Errorf("%s: delete = %d, want 404", o.name, got)
		}
	}
	// Its creator may.
	if got := p.history("", tokenA, a.SessionID); got != 200 {
		t.Errorf("creator: history = %d, want 200", got)
	}
	status, again, e, h := p.turn("", tokenA, a.SessionID, "anonymous A again")
	if status != 200 || again.AssistantSeq != 4 {
		t.Errorf("creator: second turn = %d %+v %+v, want 200 at seq 4", status, again, e)
	}
	if again.SessionToken != "" || h.Get(api.SessionTokenHeader) != "" {
		t.Errorf("a turn of an existing session issued a token %q", again.SessionToken)
	}

	// A key's session belongs to the key; an admin key of the tenant may
	// read and delete it, not continue it.
	_, k, _, h := p.turn(p.alice, "", "", "alice asks")
	if k.SessionToken != "" || h.Get(api.SessionTokenHeader) != "" {
		t.Errorf("a key's session got a token %q", k.SessionToken)
	}
	if got := p.history(p.alice, "", k.SessionID); got != 200 {
		t.Errorf("alice: history of her session = %d, want 200", got)
	}
	for _, o := range []struct {
		name       string
		key, token string
	}{{"bob", p.bob, ""}, {"anonymous", "", tokenA}} {
		if got := p.history(o.key, o.token, k.SessionID); got != 404 {
			t.Errorf("%s: history of alice's session = %d, want 404", o.name, got)
		}
		if status, _, _, _ := p.turn(o.key, o.token, k.SessionID, "let me in"); status != 404 {
			t.Errorf("%s: turn on alice's session = %d, want 404", o.name, status)
		}
		if got := p.delete(o.key, o.token, k.SessionID); got != 404 {
			t.Errorf("%s: delete of alice's session = %d, want 404", o.name, got)
		}
	}
	if got := p.history(p.boss, "", k.SessionID); got != 200 {
		t.Errorf("admin: history of alice's session = %d, want 200", got)
	}
	if got := p.history(p.boss, "", a.SessionID); got != 200 {
		t.Errorf("admin: history of an anonymous session = %d, want 200", got)
	}
	if status, _, _, _ := p.turn(p.boss, "", k.SessionID, "in alice's name"); status != 404 {
		t.Errorf("admin: turn on alice's session = %d, want 404", status)
	}
	if got := p.delete(p.boss, "", b.SessionID); got != 200 {
		t.Errorf("admin: delete of an anonymous session = %d, want 200", got)
	}
	if got := p.delete("", tokenA, a.SessionID); got != 200 {
		t.Errorf("creator: delete = %d, want 200", got)
	}
	if got := p.history("", tokenA, a.SessionID); got != 404 {
		t.Errorf("creator: history after delete = %d, want 404", got)
	}
}

// TestPublicChatIdempotencyIsPerSession checks that anonymous callers share
// no Idempotency-Key space: a key is scoped to the session token, and is
// refused without one.
func TestPublicChatIdempotencyIsPerSession(t *testing.T) {
	p := startPublicChat(t)
	status, _, e, _ := p.turn("", "", "", "hello", "Idempotency-Key", "k-1")
	if status != 400 || e == nil || e.Code != api.CodeInvalidRequest {
		t.Errorf("anonymous Idempotency-Key without a session token = %d %+v, want 400 invalid_request", status, e)
	}
	_, a, _, _ := p.turn("", "", "", "A opens")
	_, b, _, _ := p.turn("", "", "", "B opens")

	_, first, _, _ := p.turn("", a.SessionToken, a.SessionID, "same words", "Idempotency-Key", "k-1")
	status, other, e, _ := p.turn("", b.SessionToken, b.SessionID, "same words", "Idempotency-Key", "k-1")
	if status != 200 || other.Replayed || other.SessionID != b.SessionID {
		t.Errorf("B's turn with A's Idempotency-Key = %d %+v %+v, want B's own turn, not a replay", status, other, e)
	}
	_, retry, _, _ := p.turn("", a.SessionToken, a.SessionID, "same words", "Idempotency-Key", "k-1")
	if !retry.Replayed || retry.SessionID != a.SessionID || retry.AssistantSeq != first.AssistantSeq {
		t.Errorf("A's retry = %+v, want A's first result %+v replayed", retry, first)
	}
	// The key does not leak across sessions even with the same body and
	// no session named: refused without a token.
	status, _, _, _ = p.turn("", "", "", "same words", "Idempotency-Key", "k-1")
	if status != 400 {
		t.Errorf("a third caller reusing the key without a token = %d, want 400", status)
	}
}

// TestPublicChatStreamGivesToken checks that a session started anonymously
// over SSE gets its token in the done event.
func TestPublicChatStreamGivesToken(t *testing.T) {
	p := startPublicChat(t)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", p.s.url+"/chat", strings.NewReader(`{"message":"stream me"}`))
	req.Host = p.host
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	rd := sse.NewReader(res.Body)
	var done api.ChatResult
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Event == "done" {
			if err := json.Unmarshal(ev.Data, &done); err != nil {
				t.Fatal(err)
			}
		}
	}
	if done.SessionID == "" || done.SessionToken == "" {
		t.Fatalf("done event %+v, want a session and its token", done)
	}
	if got := p.history("", done.SessionToken, done.SessionID); got != 200 {
		t.Errorf("history with the streamed token = %d, want 200", got)
	}
	if got := p.history("", "", done.SessionID); got != 404 {
		t.Errorf("history without the token = %d, want 404", got)
	}
}
