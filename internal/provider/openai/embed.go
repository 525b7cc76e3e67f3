package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/vecbytes"
)

// maxEmbedAnswer bounds the body of an embeddings answer.
const maxEmbedAnswer = 256 << 20

// Embed implements provider.Embedder. Config.Timeout bounds the whole call.
func (c *Client) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	if req == nil || req.Model == "" {
		return nil, c.fail(provider.KindBadRequest, 0, "no model", nil)
	}
	if len(req.Input) == 0 {
		return nil, c.fail(provider.KindBadRequest, 0, "no input", nil)
	}
	if req.Dimensions < 0 {
		return nil, c.fail(provider.KindBadRequest, 0, "negative dimensions", nil)
	}
	body, err := json.Marshal(embedRequest(req))
	if err != nil {
		return nil, c.fail(provider.KindBadRequest, 0, "cannot encode the request", err)
	}
	a := c.newAttempt(ctx)
	defer a.cancel(nil)
	defer a.stopTimer()
	resp, err := c.post(a, c.embedURL, "application/json", body, true)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbedAnswer+1))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, c.ctxError(cerr)
		}
		if a.timedOut() {
			return nil, c.fail(provider.KindTimeout, 0, "reading the answer", context.Cause(a.ctx))
		}
		return nil, c.fail(provider.KindConnection, 0, "reading the answer", err)
	}
	if len(raw) > maxEmbedAnswer {
		return nil, c.fail(provider.KindProtocol, 0, "answer too large", nil)
	}
	return c.decodeEmbeddings(raw, req)
}

// decodeEmbeddings checks an answer against the request and puts the
// vectors in input order.
func (c *Client) decodeEmbeddings(raw []byte, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	var er embedResponse
	if err := json.Unmarshal(raw, &er); err != nil {
		return nil, c.fail(provider.KindProtocol, 0, "answer is not an embedding list", err)
	}
	if e := bytes.TrimSpace(er.Error); len(e) > 0 && !bytes.Equal(e, []byte("null")) {
		return nil, c.inlineError(raw)
	}
	if len(er.Data) != len(req.Input) {
		return nil, c.fail(provider.KindProtocol, 0, fmt.Sprintf("%d vectors for %d inputs", len(er.Data), len(req.Input)), nil)
	}
	out := &provider.EmbedResponse{Vectors: make([][]float32, len(req.Input))}
	for _, d := range er.Data {
		if d.Index < 0 || d.Index >= len(out.Vectors) || out.Vectors[d.Index] != nil {
			return nil, c.fail(provider.KindProtocol, 0, fmt.Sprintf("vector index %d missing, repeated or out of range", d.Index), nil)
		}
		v, err := vector(d.Embedding)
		if err != nil {
			return nil, c.fail(provider.KindProtocol, 0, fmt.Sprintf("vector %d", d.Index), err)
		}
		if req.Dimensions > 0 && len(v) != req.Dimensions {
			return nil, c.fail(provider.KindProtocol, 0, fmt.Sprintf("asked for %d dimensions, got %d", req.Dimensions, len(v)), nil)
		}
		if len(v) == 0 {
			return nil, c.fail(provider.KindProtocol, 0, fmt.Sprintf("vector %d is empty", d.Index), nil)
		}
		out.Vectors[d.Index] = v
	}
	for i, v := range out.Vectors {
		if len(v) != len(out.Vectors[0]) {
			return nil, c.fail(provider.KindProtocol, 0, fmt.Sprintf("vector %d has %d dimensions, vector 0 has %d", i, len(v), len(out.Vectors[0])), nil)
		}
	}
	if er.Usage != nil {
		out.Usage = provider.Usage{PromptTokens: er.Usage.PromptTokens}
	}
	return out, nil
}

// vector decodes an array of numbers or, from servers that answer base64
// whatever was asked, a base64 string of little-endian float32s.
func vector(raw json.RawMessage) ([]float32, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		return vecbytes.Decode(b)
	}
	var v []float32
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return v, nil
}
