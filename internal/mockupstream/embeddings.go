package mockupstream

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

// Limits of POST /v1/embeddings.
const (
	maxEmbeddingInputs     = 2048
	maxEmbeddingDimensions = 1 << 14
)

func (s *Server) embed(w http.ResponseWriter, r *http.Request, body []byte) {
	var er embeddingRequest
	if e := decode(body, &er); e != nil {
		e.write(w)
		return
	}
	inputs, e := s.validateEmbed(&er)
	if e != nil {
		e.write(w)
		return
	}
	p, ok := s.admit(w, r, body, false)
	if !ok {
		return
	}
	dims := s.dims
	if er.Dimensions != nil {
		dims = *er.Dimensions
	}
	b64 := er.EncodingFormat == "base64"
	vec := make([]float32, dims)
	per := 12 * dims
	if b64 {
		per = (4*dims + 2) / 3 * 4
	}
	b := make([]byte, 0, 128+len(inputs)*(per+48))
	b = append(b, `{"object":"list","data":[`...)
	tokens := 0
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		tokens += max(1, countWords(in))
		Vector(vec, in)
		b = append(b, `{"object":"embedding","index":`...)
		b = appendInt(b, i)
		b = append(b, `,"embedding":`...)
		if b64 {
			raw := make([]byte, 4*dims)
			for j, x := range vec {
				binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, x := range vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, er.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = appendInt(b, tokens)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, tokens)
	b = append(b, "}}"...)

	w.Header().Set("Content-Type", "application/json")
	switch p.fault {
	case faultMalformed:
		b = b[:len(b)/2]
	case faultCut:
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	case faultStreamError:
		writeStatusError(w, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// validateEmbed checks a request as OpenAI does and returns its inputs as
// texts (token arrays become their numbers separated by spaces).
func (s *Server) validateEmbed(er *embeddingRequest) ([]string, *badRequest) {
	if er.Model == "" {
		return nil, invalid("", "", "you must provide a model parameter")
	}
	bad := invalid("input", "", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
	raw := bytes.TrimSpace(er.Input)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, invalid("input", "missing_required_parameter", "Missing required parameter: 'input'.")
	}
	var inputs []string
	var one string
	var many []string
	var toks []int
	var tokss [][]int
	switch {
	case json.Unmarshal(raw, &one) == nil:
		inputs = []string{one}
	case json.Unmarshal(raw, &many) == nil:
		inputs = many
	case json.Unmarshal(raw, &toks) == nil:
		inputs = []string{joinInts(toks)}
	case json.Unmarshal(raw, &tokss) == nil:
		for _, t := range tokss {
			inputs = append(inputs, joinInts(t))
		}
	default:
		return nil, bad
	}
	if len(inputs) == 0 || len(inputs) > maxEmbeddingInputs {
		return nil, bad
	}
	for _, in := range inputs {
		if in == "" {
			return nil, bad
		}
	}
	if d := er.Dimensions; d != nil {
		if *d < 1 {
			return nil, invalid("dimensions", "integer_below_min_value", fmt.Sprintf("Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got %d instead.", *d))
		}
		if *d > maxEmbeddingDimensions {
			return nil, invalid("dimensions", "integer_above_max_value", fmt.Sprintf("Invalid 'dimensions': integer above maximum value. Expected a value <= %d, but got %d instead.", maxEmbeddingDimensions, *d))
		}
	}
	switch er.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, invalid("encoding_format", "invalid_value", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'float' and 'base64'.", er.EncodingFormat))
	}
	if s.models != nil && !s.models[er.Model] {
		return nil, &badRequest{status: http.StatusNotFound, code: "model_not_found",
			msg: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", er.Model)}
	}
	return inputs, nil
}

func joinInts(ns []int) string {
	b := make([]byte, 0, 8*len(ns))
	for i, n := range ns {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

// Vector fills v with the mock's embedding of text: each word (a run of
// letters, digits or non-ASCII bytes, case folded for ASCII) is hashed into
// two signed buckets, and the result is scaled to unit length. Texts that
// share words therefore have a positive cosine similarity, and equal texts
// equal vectors.
func Vector(v []float32, text string) {
	clear(v)
	if len(v) == 0 {
		return
	}
	n := uint64(len(v))
	add := func(h uint64) {
		i, j := h%n, (h>>32)%n
		if h>>63 == 0 {
			v[i]++
		} else {
			v[i]--
		}
		if h>>62&1 == 0 {
			v[j] += 0.5
		} else {
			v[j] -= 0.5
		}
	}
	const offset, prime = 14695981039346656037, 1099511628211
	h, inWord, words := uint64(offset), false, 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c >= 0x80 || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			h = (h ^ uint64(c)) * prime
			inWord = true
			continue
		}
		if inWord {
			add(mix(h))
			words++
			h, inWord = offset, false
		}
	}
	if inWord {
		add(mix(h))
		words++
	}
	if words == 0 {
		h = offset
		for i := 0; i < len(text); i++ {
			h = (h ^ uint64(text[i])) * prime
		}
		add(mix(h))
	}
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	scale := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= scale
	}
}

// mix spreads the bits of an FNV hash (splitmix64's finaliser).
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}
