package workersai

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/sse"
)

// FuzzDecoder feeds arbitrary bytes to the stream decoder: it never panics,
// every delta before the last carries text, and the stream always ends,
// in io.EOF only after [DONE] (with a finish reason on the final delta) or
// in a *provider.Error.
func FuzzDecoder(f *testing.F) {
	for _, seed := range []string{
		"data: {\"response\":\"Hel\"}\n\ndata: {\"response\":\"lo\"}\n\ndata: {\"response\":\"\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\",\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n",
		"data: {\"tool_calls\":[{\"name\":\"w\",\"arguments\":{\"city\":\"Paris\"}}]}\n\ndata: [DONE]\n\n",
		"data: {\"response\":\"cut\"}\n\n",
		"data: {\"response\": nope}\n\n",
		"event: error\ndata: {\"errors\":[{\"code\":3040,\"message\":\"busy\"}]}\n\n",
		"data: {\"response\":{\"a\":[1,2]},\"finish_reason\":\"model_length\"}\r\n\r\ndata: [DONE]\r\n\r\n",
		": ping\n\ndata: [DONE]\n\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := newDecoder("workersai", sse.NewReader(bytes.NewReader(data)))
		for i := 0; ; i++ {
			if i > len(data)+2 {
				t.Fatalf("no end after %d deltas from %d bytes", i, len(data))
			}
			delta, err := d.next()
			if err == io.EOF {
				if !d.done {
					t.Fatal("io.EOF before [DONE]")
				}
				return
			}
			if err != nil {
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Provider != "workersai" {
					t.Fatalf("error %v (%T) is not a *provider.Error", err, err)
				}
				return
			}
			if d.done {
				if delta.FinishReason == "" {
					t.Fatalf("final delta %+v has no finish reason", delta)
				}
				continue
			}
			if delta.Text == "" {
				t.Fatalf("delta %d carries no text: %+v", i, delta)
			}
		}
	})
}

// FuzzClassify feeds arbitrary error responses to the classifier: it never
// panics, always returns a known kind and a bounded message, and never a
// negative Retry-After.
func FuzzClassify(f *testing.F) {
	f.Add(429, "2", []byte(`{"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}]}`))
	f.Add(401, "", []byte(`{"success":false,"error":[{"code":2009,"message":"Unauthorized"}]}`))
	f.Add(400, "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{"errors":[{"code":"5007","message":"No such model"}]}`))
	f.Add(500, "-1", []byte("<html>\x00\xff</html>"))
	f.Add(200, "", []byte(`{"error":"boom"}`))
	c, err := New(Config{AccountID: "a", APIToken: "t"})
	if err != nil {
		f.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		pe := c.classify(status, h, body)
		if int(pe.Kind) < 0 || pe.Kind.String() == "" || pe.Kind > provider.KindProtocol {
			t.Fatalf("kind %d", pe.Kind)
		}
		if len(pe.Message) > maxMessage+8 {
			t.Fatalf("message of %d bytes", len(pe.Message))
		}
		if pe.RetryAfter < 0 || pe.RetryAfter > 24*time.Hour {
			t.Fatalf("RetryAfter %s", pe.RetryAfter)
		}
	})
}

func TestUntilUTCMidnight(t *testing.T) {
	for _, tt := range []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC), time.Hour},
		{time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), 24 * time.Hour},
		{time.Date(2026, 6, 1, 1, 30, 0, 0, time.FixedZone("CEST", 2*3600)), 30 * time.Minute},
	} {
		if got := untilUTCMidnight(tt.now); got != tt.want {
			t.Errorf("untilUTCMidnight(%s) = %s, want %s", tt.now, got, tt.want)
		}
	}
}

func TestAccountLimitedRetryAfter(t *testing.T) {
	c, err := New(Config{AccountID: "a", APIToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return time.Date(2026, 1, 2, 22, 0, 0, 0, time.UTC) }
	pe := c.classify(429, http.Header{}, []byte(`{"success":false,"errors":[{"code":3036,"message":"daily free allocation"}]}`))
	if pe.Kind != provider.KindRateLimited || pe.RetryAfter != 2*time.Hour {
		t.Errorf("kind %s, RetryAfter %s; want rate_limited until 00:00 UTC (2h)", pe.Kind, pe.RetryAfter)
	}
	// The upstream's own Retry-After wins.
	pe = c.classify(429, http.Header{"Retry-After": {"7"}}, []byte(`{"success":false,"errors":[{"code":3036,"message":"x"}]}`))
	if pe.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter %s, want the header's 7s", pe.RetryAfter)
	}
}

func TestClip(t *testing.T) {
	s := clip("é"+string(bytes.Repeat([]byte("é"), 10))+"\n\x00", 5)
	if s != "éé…" {
		t.Errorf("clip = %q", s)
	}
	if got := clip("a\r\nb", 10); got != "a  b" {
		t.Errorf("clip = %q, want control characters replaced", got)
	}
}
