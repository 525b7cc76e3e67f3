package openai

import (
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
)

func TestParseError(t *testing.T) {
	tests := []struct {
		body          string
		msg, typ, cod string
		status        int
	}{
		{`{"error":{"message":"m","type":"t","param":null,"code":"c"}}`, "m", "t", "c", 0},
		{`{"error":{"message":"m","type":"t","param":"p","code":null}}`, "m", "t", "", 0},
		{`{"error":{"message":"m","code":429}}`, "m", "", "", 429},
		{`{"error":"plain"}`, "plain", "", "", 0},
		{`{"object":"error","message":"v","type":"BadRequestError","code":400}`, "v", "BadRequestError", "", 400},
		{`{"detail":"fastapi"}`, "fastapi", "", "", 0},
		{`{"error":{"message":{"nested":1}}}`, "", "", "", 0},
		{`not json`, "", "", "", 0},
		{``, "", "", "", 0},
	}
	for _, tt := range tests {
		e := parseError([]byte(tt.body))
		if e.message != tt.msg || e.typ != tt.typ || e.code != tt.cod || e.status != tt.status {
			t.Errorf("%s: %+v", tt.body, e)
		}
	}
}

func TestStatusKind(t *testing.T) {
	tests := []struct {
		status int
		code   string
		want   provider.Kind
	}{
		{400, "", provider.KindBadRequest},
		{413, "", provider.KindBadRequest},
		{422, "", provider.KindBadRequest},
		{409, "", provider.KindBadRequest},
		{401, "", provider.KindAuth},
		{403, "", provider.KindAuth},
		{404, "", provider.KindNotFound},
		{408, "", provider.KindTimeout},
		{429, "", provider.KindRateLimited},
		{429, "rate_limit_exceeded", provider.KindRateLimited},
		{429, "insufficient_quota", provider.KindAuth},
		{500, "", provider.KindOverloaded},
		{502, "", provider.KindOverloaded},
		{503, "", provider.KindOverloaded},
		{504, "", provider.KindOverloaded},
		{529, "", provider.KindOverloaded},
		{599, "", provider.KindOverloaded},
		{302, "", provider.KindProtocol},
		{204, "", provider.KindProtocol},
	}
	for _, tt := range tests {
		if got := statusKind(tt.status, tt.code, ""); got != tt.want {
			t.Errorf("%d %q: %v, want %v", tt.status, tt.code, got, tt.want)
		}
	}
}

func TestBound(t *testing.T) {
	long := make([]byte, 3000)
	for i := range long {
		long[i] = "é"[i%2]
	}
	got := bound(string(long))
	if len(got) > maxMessageBytes+len("…") {
		t.Errorf("bound kept %d bytes", len(got))
	}
	if got := bound("a\n\tb  \x00c\xff"); got != "a b \x00c\uFFFD" {
		t.Errorf("bound = %q", got)
	}
}
