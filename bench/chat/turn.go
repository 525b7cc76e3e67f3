package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/sse"
)

// turn is what the client saw of one streamed POST /chat.
type turn struct {
	// first and done are from just before the request is sent to the
	// first token event and to the done event.
	first, done time.Duration
	tokens      int
	text        string // the token events joined
	result      api.ChatResult
}

// errStream is a stream that broke the protocol: an error event, no done
// event, a status other than 200, or the wrong content type.
var errStream = errors.New("bad stream")

// chatTurn sends one turn and reads its stream to the done event.
// onFirst, when not nil, is called at the first token event.
func chatTurn(ctx context.Context, client *http.Client, base, key, requestID string, body api.ChatRequest, onFirst func()) (turn, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return turn{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/chat", bytes.NewReader(b))
	if err != nil {
		return turn{}, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if requestID != "" {
		req.Header.Set("X-Request-ID", requestID)
	}

	var t turn
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return t, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return t, fmt.Errorf("%w: status %d: %s", errStream, res.StatusCode, bytes.TrimSpace(msg))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return t, fmt.Errorf("%w: content type %q", errStream, ct)
	}
	var text strings.Builder
	rd := sse.NewReader(res.Body)
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return t, fmt.Errorf("%w: stream ended without a done event after %d tokens", errStream, t.tokens)
		}
		if err != nil {
			return t, err
		}
		switch ev.Event {
		case "token":
			if t.tokens == 0 {
				t.first = time.Since(t0)
				if onFirst != nil {
					onFirst()
				}
			}
			t.tokens++
			var tok api.ChatToken
			if err := json.Unmarshal(ev.Data, &tok); err != nil {
				return t, fmt.Errorf("%w: token event: %v", errStream, err)
			}
			text.WriteString(tok.Text)
		case "done":
			t.done = time.Since(t0)
			if err := json.Unmarshal(ev.Data, &t.result); err != nil {
				return t, fmt.Errorf("%w: done event: %v", errStream, err)
			}
			t.text = text.String()
			// Anything after done would be a protocol error too.
			if n, _ := io.Copy(io.Discard, res.Body); n > 0 {
				return t, fmt.Errorf("%w: %d bytes after the done event", errStream, n)
			}
			return t, nil
		case "error":
			return t, fmt.Errorf("%w: error event after %d tokens: %s", errStream, t.tokens, ev.Data)
		default:
			return t, fmt.Errorf("%w: unexpected event %q", errStream, ev.Event)
		}
	}
}
