package workersai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// embedder answers like @cf/baai/bge-base-en-v1.5: one vector per text,
// each filled with the text's length so that order can be checked.
func embedder(t *testing.T, dims int, header http.Header, usage bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Text []string `json:"text"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || len(in.Text) == 0 || len(in.Text) > 100 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, envelopeErr(5004, "Invalid input"))
			return
		}
		data := make([][]float32, len(in.Text))
		for i, s := range in.Text {
			data[i] = make([]float32, dims)
			for j := range data[i] {
				data[i][j] = float32(len(s))
			}
		}
		result := map[string]any{"shape": []int{len(in.Text), dims}, "data": data, "pooling": "mean"}
		if usage {
			result["usage"] = map[string]any{"prompt_tokens": len(in.Text) * 3, "completion_tokens": 0, "total_tokens": len(in.Text) * 3}
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, envelopeOK(result))
	}
}

func TestEmbed(t *testing.T) {
	f := newFake(t, embedder(t, 768, nil, false))
	req := &provider.EmbedRequest{Model: embedModel, Input: []string{"a", "bb"}, Meta: provider.Meta{Tenant: "acme"}}
	res, err := newClient(t, f.directConfig()).Embed(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Vectors) != 2 || len(res.Vectors[0]) != 768 || res.Vectors[0][0] != 1 || res.Vectors[1][0] != 2 {
		t.Errorf("vectors: %d of %d, first values %v %v", len(res.Vectors), len(res.Vectors[0]), res.Vectors[0][0], res.Vectors[1][0])
	}
	if res.Usage != (provider.Usage{}) {
		t.Errorf("usage = %+v, want zero when Workers AI reports none", res.Usage)
	}
	got := f.last()
	if want := "/client/v4/accounts/" + accountID + "/ai/run/@cf/baai/bge-base-en-v1.5"; got.RequestURI != want {
		t.Errorf("URI = %q, want %q", got.RequestURI, want)
	}
	if string(got.Body) != `{"text":["a","bb"]}` {
		t.Errorf("body = %s", got.Body)
	}
	if got.Header.Get("Authorization") != "Bearer "+apiToken || got.Header.Get("Accept") != "application/json" {
		t.Errorf("headers = %v", got.Header)
	}
}

func TestEmbedThroughGateway(t *testing.T) {
	f := newFake(t, embedder(t, 4, http.Header{"Cf-Aig-Cache-Status": {"HIT"}}, true))
	c := newClient(t, f.gatewayConfig())
	req := &provider.EmbedRequest{Model: embedModel, Input: []string{"x"}, Meta: provider.Meta{Tenant: "acme", Route: "ingest", RequestID: "r9"}}
	res, hit, err := c.EmbedWithCache(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if !hit {
		t.Error("cache hit not reported")
	}
	if res.Usage.PromptTokens != 3 {
		t.Errorf("usage = %+v, want the reported 3 prompt tokens", res.Usage)
	}
	got := f.last()
	if want := "/v1/" + accountID + "/" + gatewayID + "/workers-ai/@cf/baai/bge-base-en-v1.5"; got.RequestURI != want {
		t.Errorf("URI = %q, want %q", got.RequestURI, want)
	}
	if got.Header.Get("cf-aig-authorization") != "Bearer "+gatewayToken || got.Header.Get("cf-aig-metadata") != `{"tenant":"acme","route":"ingest","requestId":"r9"}` {
		t.Errorf("gateway headers = %v", got.Header)
	}
}

func TestEmbedBatches(t *testing.T) {
	calls := 0
	f := newFake(t, nil)
	inner := embedder(t, 3, nil, true)
	f.handler = func(w http.ResponseWriter, r *http.Request) {
		calls++
		status := "HIT"
		if calls == 2 {
			status = "MISS"
		}
		w.Header().Set("cf-aig-cache-status", status)
		inner(w, r)
	}
	input := make([]string, 250)
	for i := range input {
		input[i] = string(make([]byte, i%7+1))
	}
	res, hit, err := newClient(t, f.gatewayConfig()).EmbedWithCache(context.Background(), &provider.EmbedRequest{Model: embedModel, Input: input})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Errorf("%d calls for 250 inputs, want 3 (at most 100 each)", calls)
	}
	if hit {
		t.Error("reported a cache hit though one of the calls missed")
	}
	if len(res.Vectors) != 250 {
		t.Fatalf("%d vectors, want 250", len(res.Vectors))
	}
	for i, v := range res.Vectors {
		if v[0] != float32(i%7+1) {
			t.Fatalf("vector %d is out of order", i)
		}
	}
	if res.Usage.PromptTokens != 750 {
		t.Errorf("usage = %+v, want prompt tokens summed to 750", res.Usage)
	}
}

func TestEmbedFailures(t *testing.T) {
	bad := func(body string) http.HandlerFunc { return raw(http.StatusOK, "application/json", nil, body) }
	tests := []struct {
		name    string
		handler http.HandlerFunc
		req     *provider.EmbedRequest
		kind    provider.Kind
	}{
		{"no input", bad("{}"), &provider.EmbedRequest{Model: embedModel}, provider.KindBadRequest},
		{"empty text", bad("{}"), &provider.EmbedRequest{Model: embedModel, Input: []string{"a", ""}}, provider.KindBadRequest},
		{"unsafe model", bad("{}"), &provider.EmbedRequest{Model: "../x", Input: []string{"a"}}, provider.KindBadRequest},
		{"nil", bad("{}"), nil, provider.KindBadRequest},
		{"dimensions differ", embedder(t, 768, nil, false), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}, Dimensions: 512}, provider.KindBadRequest},
		{"too few vectors", bad(envelopeOK(map[string]any{"shape": []int{1, 2}, "data": [][]float32{{1, 2}}})), &provider.EmbedRequest{Model: embedModel, Input: []string{"a", "b"}}, provider.KindProtocol},
		{"ragged", bad(envelopeOK(map[string]any{"data": [][]float32{{1, 2}, {1}}})), &provider.EmbedRequest{Model: embedModel, Input: []string{"a", "b"}}, provider.KindProtocol},
		{"shape disagrees", bad(envelopeOK(map[string]any{"shape": []int{1, 3}, "data": [][]float32{{1, 2}}})), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindProtocol},
		{"empty vectors", bad(envelopeOK(map[string]any{"data": [][]float32{{}}})), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindProtocol},
		{"not JSON", bad("<html>"), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindProtocol},
		{"async answer", bad(envelopeOK(map[string]any{"request_id": "abc"})), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindProtocol},
		{"wrong content type", raw(http.StatusOK, "text/html", nil, "<html>"), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindProtocol},
		{"success false", bad(envelopeErr(5007, "No such model")), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindNotFound},
		{"auth", raw(http.StatusForbidden, "application/json", nil, envelopeErr(10000, "Authentication error")), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}}, provider.KindAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.handler)
			_, err := newClient(t, f.directConfig()).Embed(context.Background(), tt.req)
			asProviderError(t, err, tt.kind)
		})
	}
}

func TestEmbedTimeout(t *testing.T) {
	f := newFake(t, nil)
	f.handler = func(w http.ResponseWriter, r *http.Request) { f.waitCancelled(r) }
	cfg := f.directConfig()
	cfg.Timeout = 100 * time.Millisecond
	_, err := newClient(t, cfg).Embed(context.Background(), &provider.EmbedRequest{Model: embedModel, Input: []string{"a"}})
	asProviderError(t, err, provider.KindTimeout)
	f.assertCancelled(t)
}
