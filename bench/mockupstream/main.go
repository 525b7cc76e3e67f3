// Command mockupstream runs the mock OpenAI-compatible model server of
// internal/mockupstream on an address, for benchmarks of the gateway and for
// trying clients by hand:
//
//	go run ./bench/mockupstream -addr 127.0.0.1:8099 -ttft 200ms -tps 50 -error-rate 0.05
//
// It prints its base URL (ending in /v1) on the first line of stdout, then
// serves until interrupted. Every field of mockupstream.Config has a flag;
// -script takes a comma-separated list of steps consumed one per request
// ("503,429,ok,hang,cut,malformed").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crispy-enigma/crispy/internal/mockupstream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mockupstream:", err)
		os.Exit(2)
	}
}

// run parses args, serves until ctx is done, and shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mockupstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg    mockupstream.Config
		addr   = fs.String("addr", "127.0.0.1:8099", "listen address (port 0 picks a free one)")
		models = fs.String("models", "", "comma-separated model names; when set, others get 404")
		script = fs.String("script", "", `comma-separated steps, one per request: a status ("503"), "ok", "hang", "cut" or "malformed"`)
	)
	fs.StringVar(&cfg.APIKey, "api-key", "", "require Authorization: Bearer <key>")
	fs.DurationVar(&cfg.Latency, "latency", 0, "wait before the response headers")
	fs.DurationVar(&cfg.TTFT, "ttft", 0, "wait between the headers and the first token")
	fs.Float64Var(&cfg.TokensPerSecond, "tps", 0, "tokens per second after the first (0: as fast as possible)")
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of calls answered with -error-status")
	fs.IntVar(&cfg.ErrorStatus, "error-status", mockupstream.DefaultErrorStatus, "status of injected errors (429 or 5xx)")
	fs.DurationVar(&cfg.RetryAfter, "retry-after", 0, "Retry-After sent with injected 429 and 503")
	fs.Float64Var(&cfg.HangRate, "hang-rate", 0, "share of calls never answered")
	fs.Float64Var(&cfg.MalformedRate, "malformed-rate", 0, "share of streams with a chunk that is not JSON")
	fs.Float64Var(&cfg.CutRate, "cut-rate", 0, "share of streams cut halfway without [DONE]")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the rates' RNG")
	fs.StringVar(&cfg.Reply, "reply", "", "the answer (default: echo the last user message)")
	fs.IntVar(&cfg.CompletionTokens, "completion-tokens", 0, "repeat or cut the answer to this many tokens")
	fs.IntVar(&cfg.EmbeddingDimensions, "embedding-dimensions", mockupstream.DefaultEmbeddingDimensions, "vector size when a request does not ask for one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *models != "" {
		cfg.Models = strings.Split(*models, ",")
	}
	steps, err := parseScript(*script)
	if err != nil {
		return err
	}
	cfg.Script = steps
	for name, r := range map[string]float64{"error-rate": cfg.ErrorRate, "hang-rate": cfg.HangRate, "malformed-rate": cfg.MalformedRate, "cut-rate": cfg.CutRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("-%s %v is outside [0, 1]", name, r)
		}
	}
	if sum := cfg.ErrorRate + cfg.HangRate + cfg.MalformedRate + cfg.CutRate; sum > 1 {
		return fmt.Errorf("the rates add up to %v, more than 1", sum)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	mock := mockupstream.New(cfg)
	srv := &http.Server{
		Handler:           mock,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	fmt.Fprintf(stdout, "http://%s/v1\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	mock.Close() // release hanging requests
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	st := mock.Stats()
	fmt.Fprintf(stderr, "served %d requests (%d chat, %d embeddings), %d disconnects\n", st.Requests, st.Chat, st.Embeddings, st.Disconnects)
	return err
}

// parseScript reads "503,ok,hang,cut,malformed".
func parseScript(s string) ([]mockupstream.Step, error) {
	if s == "" {
		return nil, nil
	}
	var steps []mockupstream.Step
	for _, f := range strings.Split(s, ",") {
		var st mockupstream.Step
		switch f = strings.TrimSpace(f); f {
		case "ok":
		case "hang":
			st.Hang = true
		case "cut":
			st.Cut, st.After = true, 1
		case "malformed":
			st.Malformed, st.After = true, 1
		default:
			n, err := strconv.Atoi(f)
			if err != nil || n < 100 || n > 999 {
				return nil, fmt.Errorf("-script: %q is not a status, ok, hang, cut or malformed", f)
			}
			st.Status = n
		}
		steps = append(steps, st)
	}
	return steps, nil
}
