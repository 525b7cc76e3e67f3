package workersai

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"

	"github.com/crispy-enigma/crispy/internal/provider"
)

// maxEmbedBatch is the most texts one run call takes (the embedding models'
// input schema: "text" array, maxItems 100); longer inputs are split.
const maxEmbedBatch = 100

// maxEmbedBody bounds one embeddings response.
const maxEmbedBody = 32 << 20

type embedInput struct {
	Text []string `json:"text"`
}

type embedResult struct {
	Shape []int       `json:"shape"`
	Data  [][]float32 `json:"data"`
	Usage *usage      `json:"usage"`
}

// Embed returns one vector per input. Workers AI embedding models have a
// fixed width, so Dimensions is not sent; a nonzero Dimensions that differs
// from the width returned is a KindBadRequest error.
func (c *Client) Embed(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, error) {
	resp, _, err := c.EmbedWithCache(ctx, req)
	return resp, err
}

// EmbedWithCache is Embed that also reports whether AI Gateway answered from
// its cache (cf-aig-cache-status: HIT); with inputs split over several calls,
// only when every call was a hit. Usage is summed over the calls and left at
// zero when Workers AI does not report it.
func (c *Client) EmbedWithCache(ctx context.Context, req *provider.EmbedRequest) (*provider.EmbedResponse, bool, error) {
	bad := func(format string, args ...any) error {
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Message: fmt.Sprintf(format, args...)}
	}
	if req == nil {
		return nil, false, bad("no embeddings request")
	}
	if err := checkModel(req.Model); err != nil {
		return nil, false, bad("%v", err)
	}
	if len(req.Input) == 0 {
		return nil, false, bad("no input")
	}
	for i, s := range req.Input {
		if s == "" {
			return nil, false, bad("input %d is empty", i)
		}
	}
	out := &provider.EmbedResponse{Vectors: make([][]float32, 0, len(req.Input))}
	hit := true
	for start := 0; start < len(req.Input); start += maxEmbedBatch {
		batch := req.Input[start:min(start+maxEmbedBatch, len(req.Input))]
		res, info, err := c.embedBatch(ctx, req, batch)
		if err != nil {
			return nil, false, err
		}
		hit = hit && info.hit()
		out.Vectors = append(out.Vectors, res.Data...)
		if res.Usage != nil {
			out.Usage.PromptTokens += tokens(res.Usage.PromptTokens)
			out.Usage.CompletionTokens += tokens(res.Usage.CompletionTokens)
		}
	}
	if req.Dimensions > 0 && len(out.Vectors[0]) != req.Dimensions {
		return nil, false, bad("model %s returns %d dimensions, %d were asked for", req.Model, len(out.Vectors[0]), req.Dimensions)
	}
	return out, hit, nil
}

// embedBatch makes one run call, bounded as a whole by Timeout.
func (c *Client) embedBatch(ctx context.Context, req *provider.EmbedRequest, texts []string) (*embedResult, gatewayInfo, error) {
	body, err := json.Marshal(embedInput{Text: texts})
	if err != nil {
		return nil, gatewayInfo{}, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Err: err}
	}
	k := c.newCall(ctx)
	defer k.release()
	hreq, err := c.newRequest(k.ctx, req.Model, body, "application/json", req.Meta)
	if err != nil {
		return nil, gatewayInfo{}, &provider.Error{Provider: c.cfg.Name, Kind: provider.KindBadRequest, Err: err}
	}
	resp, err := c.send(k, hreq)
	if err != nil {
		return nil, gatewayInfo{}, err
	}
	defer resp.Body.Close()
	info := gatewayInfoOf(resp.Header)
	limit := int64(maxEmbedBody)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		limit = maxErrorBody
	}
	b, err := readBody(resp.Body, limit)
	if err != nil && (k.parent.Err() != nil || k.timedOut.Load()) {
		return nil, info, c.transportError(k, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, info, c.classify(resp.StatusCode, resp.Header, b)
	}
	protocol := func(msg string, err error) error {
		return &provider.Error{Provider: c.cfg.Name, Kind: provider.KindProtocol, Status: resp.StatusCode, Message: msg, Err: err}
	}
	if err != nil {
		return nil, info, protocol("reading the embeddings", err)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return nil, info, protocol(fmt.Sprintf("unexpected content type %q for embeddings", mt), nil)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, info, protocol("malformed JSON envelope", err)
	}
	if env.failed() {
		return nil, info, c.classify(resp.StatusCode, resp.Header, b)
	}
	var res embedResult
	if err := json.Unmarshal(env.Result, &res); err != nil {
		return nil, info, protocol("malformed embeddings result", err)
	}
	if err := checkShape(&res, len(texts)); err != nil {
		return nil, info, protocol(err.Error(), nil)
	}
	return &res, info, nil
}

// checkShape verifies one vector per text, all of one width, agreeing with
// "shape" when it is given.
func checkShape(res *embedResult, n int) error {
	if len(res.Data) != n {
		return fmt.Errorf("%d vectors for %d inputs", len(res.Data), n)
	}
	width := len(res.Data[0])
	if width == 0 {
		return fmt.Errorf("empty vectors")
	}
	for i, v := range res.Data {
		if len(v) != width {
			return fmt.Errorf("vector %d has %d dimensions, vector 0 has %d", i, len(v), width)
		}
	}
	if len(res.Shape) > 0 && (len(res.Shape) != 2 || res.Shape[0] != n || res.Shape[1] != width) {
		return fmt.Errorf("shape %v does not match %d vectors of %d dimensions", res.Shape, n, width)
	}
	return nil
}
