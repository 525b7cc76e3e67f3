package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/crispy-enigma/crispy/internal/provider"
	"github.com/crispy-enigma/crispy/internal/sse"
)

// testStream returns a stream over raw SSE bytes.
func testStream(ctx context.Context, raw string) *stream {
	return newStream("t", ctx, func(error) {}, io.NopCloser(strings.NewReader(raw)))
}

// drainStream reads s to its end.
func drainStream(s *stream) ([]provider.Delta, error) {
	var ds []provider.Delta
	for range 1000 {
		d, err := s.Recv()
		if err != nil {
			return ds, err
		}
		ds = append(ds, d)
	}
	return ds, errors.New("no end")
}

func ev(chunk string) string { return "data: " + chunk + "\n\n" }

const done = "data: [DONE]\n\n"

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // JSON of the deltas
		kind provider.Kind
		err  bool
	}{
		{
			name: "text, finish, usage",
			in: ": keep-alive\n\n" +
				ev(`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}`) +
				ev(`{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`) +
				ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`) +
				ev(`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`) + done,
			want: `[{"Text":"Hi","ToolCalls":null,"FinishReason":"","Usage":null},{"Text":"","ToolCalls":null,"FinishReason":"stop","Usage":null},{"Text":"","ToolCalls":null,"FinishReason":"","Usage":{"prompt_tokens":5,"completion_tokens":1}}]`,
		},
		{
			name: "usage on the finish chunk, choices null (vLLM)",
			in: ev(`{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"length"}],"usage":{"prompt_tokens":2,"completion_tokens":1}}`) +
				ev(`{"choices":null,"usage":{"prompt_tokens":2,"completion_tokens":1}}`) + done,
			want: `[{"Text":"a","ToolCalls":null,"FinishReason":"length","Usage":{"prompt_tokens":2,"completion_tokens":1}},{"Text":"","ToolCalls":null,"FinishReason":"","Usage":{"prompt_tokens":2,"completion_tokens":1}}]`,
		},
		{
			name: "tool calls by index",
			in: ev(`{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"g","arguments":"{}"}}]}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`) + done,
			want: `[{"Text":"","ToolCalls":[{"id":"call_1","name":"f","arguments":"{\"a\":1}"},{"id":"call_2","name":"g","arguments":"{}"}],"FinishReason":"tool_calls","Usage":null}]`,
		},
		{
			name: "whole tool calls without index, finish stop, name repeated",
			in: ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\""}},{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":":1}"}}]}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`) + done,
			want: `[{"Text":"","ToolCalls":[{"id":"a","name":"f","arguments":"{\"x\":1}"},{"id":"b","name":"g","arguments":"{}"}],"FinishReason":"tool_calls","Usage":null}]`,
		},
		{
			name: "tool calls without a finish reason come before EOF",
			in:   ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{}"}}]}}]}`) + done,
			want: `[{"Text":"","ToolCalls":[{"id":"call_0","name":"f","arguments":"{}"}],"FinishReason":"tool_calls","Usage":null}]`,
		},
		{
			name: "refusal, other choices ignored, finish normalised",
			in: ev(`{"choices":[{"index":0,"delta":{"refusal":"No."}},{"index":1,"delta":{"content":"other"}}]}`) +
				ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"eos"}]}`) + done,
			want: `[{"Text":"No.","ToolCalls":null,"FinishReason":"","Usage":null},{"Text":"","ToolCalls":null,"FinishReason":"stop","Usage":null}]`,
		},
		{
			name: "CRLF and data without a space",
			in:   "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\r\n\r\ndata:[DONE]\r\n\r\n",
			want: `[{"Text":"x","ToolCalls":null,"FinishReason":"","Usage":null}]`,
		},
		{name: "empty body", in: "", kind: provider.KindConnection, err: true},
		{name: "no [DONE]", in: ev(`{"choices":[]}`), kind: provider.KindConnection, err: true},
		{name: "cut mid-event", in: "data: {\"choi", kind: provider.KindConnection, err: true},
		{name: "not JSON", in: ev(`{"choices":[`), kind: provider.KindProtocol, err: true},
		{name: "wrong JSON type", in: ev(`{"choices":{"a":1}}`), kind: provider.KindProtocol, err: true},
		{name: "error object", in: ev(`{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`), kind: provider.KindOverloaded, err: true},
		{name: "error with status code", in: ev(`{"error":{"message":"slow down","code":429}}`), kind: provider.KindRateLimited, err: true},
		{name: "error with code", in: ev(`{"error":{"message":"long","type":"invalid_request_error","code":"context_length_exceeded"}}`), kind: provider.KindBadRequest, err: true},
		{name: "error event", in: "event: error\ndata: upstream exploded\n\n", kind: provider.KindOverloaded, err: true},
		{name: "tool index out of range", in: ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":100000,"function":{"arguments":"x"}}]}}]}`), kind: provider.KindProtocol, err: true},
		{name: "line too long", in: "data: " + strings.Repeat("x", sse.MaxLineBytes+1) + "\n\n", kind: provider.KindProtocol, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStream(context.Background(), tt.in)
			ds, err := drainStream(s)
			if tt.err {
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Kind != tt.kind || pe.Provider != "t" {
					t.Fatalf("err = %v, want kind %v", err, tt.kind)
				}
				if _, again := s.Recv(); again != err {
					t.Errorf("error not sticky: %v", again)
				}
				return
			}
			if err != io.EOF {
				t.Fatalf("err = %v", err)
			}
			got, _ := json.Marshal(ds)
			if string(got) != tt.want {
				t.Errorf("deltas\n got %s\nwant %s", got, tt.want)
			}
			for range 3 {
				if _, err := s.Recv(); err != io.EOF {
					t.Errorf("Recv after EOF = %v", err)
				}
			}
		})
	}
}

func TestRecvAfterCancelIgnoresBufferedData(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := testStream(ctx, ev(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`)+ev(`{"choices":[{"index":0,"delta":{"content":"b"}}]}`)+done)
	if d, err := s.Recv(); err != nil || d.Text != "a" {
		t.Fatalf("first Recv = %+v, %v", d, err)
	}
	cancel()
	_, err := s.Recv()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Recv after cancel = %v", err)
	}
}

func TestCloseThenRecv(t *testing.T) {
	s := testStream(context.Background(), ev(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`)+done)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Recv()
	if err == nil || err == io.EOF || !errors.Is(err, context.Canceled) {
		t.Errorf("Recv after Close = %v", err)
	}
}

// FuzzStream feeds arbitrary bytes to the stream decoder: it must never
// panic, must end in io.EOF (only after [DONE]) or a *provider.Error, and
// must keep returning that end.
func FuzzStream(f *testing.F) {
	f.Add([]byte(ev(`{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}`) + ev(`{"choices":[],"usage":{"prompt_tokens":1}}`) + done))
	f.Add([]byte(ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{"}}]}}]}`) + ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`) + done))
	f.Add([]byte(ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f"}},{"function":{"arguments":"}"}}]}}]}`) + done))
	f.Add([]byte(ev(`{"error":{"message":"x","code":503}}`)))
	f.Add([]byte("event: error\ndata: x\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\rdata: [DONE]\r\r"))
	f.Add([]byte(": ping\n\nid: 1\nretry: 5\ndata: {}\n\n"))
	f.Add([]byte("data: {\"choi"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStream("fuzz", context.Background(), func(error) {}, io.NopCloser(bytes.NewReader(data)))
		var end error
		for range 100000 {
			d, err := s.Recv()
			if err != nil {
				end = err
				break
			}
			if d.Text == "" && len(d.ToolCalls) == 0 && d.FinishReason == "" && d.Usage == nil {
				t.Fatal("empty delta")
			}
		}
		switch {
		case end == nil:
			t.Fatal("no end")
		case end == io.EOF:
			if !bytes.Contains(data, []byte("[DONE]")) {
				t.Fatalf("io.EOF without [DONE]")
			}
		default:
			var pe *provider.Error
			if !errors.As(end, &pe) || pe.Provider != "fuzz" {
				t.Fatalf("end = %v (%T), want *provider.Error", end, end)
			}
		}
		if _, again := s.Recv(); again != end {
			t.Fatalf("Recv after the end = %v, want %v", again, end)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
