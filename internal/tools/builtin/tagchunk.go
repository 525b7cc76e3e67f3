package builtin

import (
	"context"
	"encoding/json"

	"github.com/crispy-enigma/crispy/internal/prose"
	"github.com/crispy-enigma/crispy/internal/rag"
	"github.com/crispy-enigma/crispy/internal/tenant"
	"github.com/crispy-enigma/crispy/internal/tools"
)

// perChunkTags is the most tags of one chunk.
const perChunkTags = 5

// documentSchema is the JSON Schema of a document, as POST /documents takes
// it: exactly one of text, markdown and html.
const documentSchema = `{
  "type": "object",
  "additionalProperties": false,
  "oneOf": [{"required": ["text"]}, {"required": ["markdown"]}, {"required": ["html"]}],
  "properties": {
    "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,255}$"},
    "title": {"type": "string", "maxLength": 500},
    "url": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
    "text": {"type": "string", "minLength": 1},
    "markdown": {"type": "string", "minLength": 1},
    "html": {"type": "string", "minLength": 1},
    "metadata": {"type": "object", "maxProperties": 32,
      "additionalProperties": {"type": ["string", "number", "boolean"]}}
  }
}`

const tagChunkArgs = `{
  "type": "object",
  "additionalProperties": false,
  "oneOf": [{"required": ["text"]}, {"required": ["markdown"]}, {"required": ["html"]}],
  "properties": {
    "title": {"type": "string", "maxLength": 500},
    "text": {"type": "string", "minLength": 1, "maxLength": 1000000},
    "markdown": {"type": "string", "minLength": 1, "maxLength": 1000000},
    "html": {"type": "string", "minLength": 1, "maxLength": 1000000},
    "maxTags": {"type": "integer", "minimum": 1, "maximum": 50, "description": "Most tags of the document (default 8)."}
  }
}`

const tagChunkResult = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["title", "tags", "chunks"],
  "properties": {
    "title": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "chunks": {"type": "array", "items": {
      "type": "object", "additionalProperties": false,
      "required": ["ordinal", "text", "start", "end", "tokens", "headingPath", "tags"],
      "properties": {
        "ordinal": {"type": "integer", "minimum": 0},
        "text": {"type": "string"},
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 0},
        "tokens": {"type": "integer", "minimum": 0},
        "headingPath": {"type": "array", "items": {"type": "string"}},
        "tags": {"type": "array", "items": {"type": "string"}}
      }
    }}
  }
}`

// TaggedChunk is one chunk of a document with its tags.
type TaggedChunk struct {
	Ordinal     int      `json:"ordinal"`
	Text        string   `json:"text"`
	Start       int      `json:"start"`
	End         int      `json:"end"`
	Tokens      int      `json:"tokens"`
	HeadingPath []string `json:"headingPath"`
	Tags        []string `json:"tags"`
}

// TagChunkResult is the result of tag_chunk.
type TagChunkResult struct {
	Title  string        `json:"title"`
	Tags   []string      `json:"tags"`
	Chunks []TaggedChunk `json:"chunks"`
}

func tagChunkTool() *tools.Tool {
	return &tools.Tool{
		Name:        TagChunk,
		Description: "Split a document into the chunks the knowledge base would make of it, and tag the document and each chunk with its keywords. Stores nothing.",
		Args:        json.RawMessage(tagChunkArgs),
		Result:      json.RawMessage(tagChunkResult),
		Scopes:      []tenant.Scope{tenant.ScopeTools},
		Run: func(ctx context.Context, c tenant.Caller, args json.RawMessage) (any, error) {
			var in struct {
				rag.DocumentInput
				MaxTags int `json:"maxTags"`
			}
			if err := tools.Decode(args, &in); err != nil {
				return nil, err
			}
			return TagChunks(c.Tenant.Config, in.DocumentInput, in.MaxTags)
		},
	}
}

// TagChunks chunks doc with the tenant's chunk settings and tags the
// document (up to maxTags keywords, default 8) and each chunk (up to 5).
func TagChunks(cfg *tenant.Config, doc rag.DocumentInput, maxTags int) (TagChunkResult, error) {
	if maxTags <= 0 {
		maxTags = 8
	}
	title, chunks, err := rag.Split(cfg, doc)
	if err != nil {
		return TagChunkResult{}, err
	}
	res := TagChunkResult{Title: title, Tags: []string{}, Chunks: make([]TaggedChunk, len(chunks))}
	var all []byte
	for i, ch := range chunks {
		path := ch.HeadingPath
		if path == nil {
			path = []string{}
		}
		res.Chunks[i] = TaggedChunk{Ordinal: ch.Ordinal, Text: ch.Text, Start: ch.Start, End: ch.End, Tokens: ch.Tokens,
			HeadingPath: path, Tags: tags(ch.Text, min(perChunkTags, maxTags))}
		all = append(append(all, ch.Text...), '\n')
	}
	res.Tags = tags(title+"\n"+string(all), maxTags)
	return res, nil
}

func tags(text string, n int) []string {
	out := []string{}
	for _, k := range prose.Keywords(text, n) {
		out = append(out, k.Word)
	}
	return out
}
