package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/obs"
	"github.com/crispy-enigma/crispy/internal/store"
	"github.com/crispy-enigma/crispy/internal/tenant"
)

// Outcomes of an invocation, as the audit log and the metrics name them.
const (
	OutcomeOK      = "ok"      // the tool ran and its result passed its schema
	OutcomeDenied  = "denied"  // unknown, not enabled for the tenant, or a scope is missing: not run
	OutcomeInvalid = "invalid" // the arguments failed the schema (not run), or the tool refused them
	OutcomeTimeout = "timeout" // the tool did not finish within its timeout
	OutcomeError   = "error"   // the tool failed, or its result failed its schema
	OutcomeCapped  = "capped"  // a model asked after the turn's last tool round: not run
)

// maxAuditName is the longest tool name kept in the audit log: a name that
// no tool has is cut there, so that a model cannot fill the log.
const maxAuditName = 64

// Options are the dependencies of a Dispatcher. Registry and Audit are
// required.
type Options struct {
	Registry *Registry
	// Audit receives a record per invocation, synchronously.
	Audit store.Audit
	// Metrics receives the invocation counter (nil: not registered).
	Metrics prometheus.Registerer
	// Logger receives audit failures. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Tracer makes a span per invocation. Default: none made.
	Tracer trace.Tracer
}

// Dispatcher runs tools for callers, after deciding whether they may.
type Dispatcher struct {
	reg         *Registry
	audit       store.Audit
	log         *slog.Logger
	now         func() time.Time
	invocations *prometheus.CounterVec
	tracer      trace.Tracer
}

// New returns a Dispatcher.
func New(opts Options) *Dispatcher {
	if opts.Registry == nil || opts.Audit == nil {
		panic("tools: Options.Registry and Options.Audit are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	d := &Dispatcher{
		reg: opts.Registry, audit: opts.Audit, log: opts.Logger, now: opts.Now, tracer: obs.Tracer(opts.Tracer),
		invocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crispy_tool_invocations_total",
			Help: "Tool invocations by tenant, tool (\"unknown\" for names no tool has) and outcome.",
		}, []string{"tenant", "tool", "outcome"}),
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(d.invocations)
	}
	return d
}

// Registry returns the dispatcher's tools.
func (d *Dispatcher) Registry() *Registry { return d.reg }

// enabled returns the tool called name if the tenant enables it.
func (d *Dispatcher) enabled(t *tenant.Tenant, name string) (*Tool, bool) {
	tool, ok := d.reg.Lookup(name)
	if !ok || t == nil || !slices.Contains(t.Config.Tools.Enabled, name) {
		return nil, false
	}
	return tool, true
}

// missing returns the scopes of tool that c lacks.
func missing(tool *Tool, c tenant.Caller) []string {
	var out []string
	for _, s := range tool.Scopes {
		if c.Key == nil || !c.Scopes().Has(s) {
			out = append(out, string(s))
		}
	}
	return out
}

// Permitted returns the tools c may invoke: enabled for its tenant, with
// every scope they require held by its key; sorted by name.
func (d *Dispatcher) Permitted(c tenant.Caller) []*Tool {
	var out []*Tool
	for _, name := range d.reg.names {
		if tool, ok := d.enabled(c.Tenant, name); ok && len(missing(tool, c)) == 0 {
			out = append(out, tool)
		}
	}
	return out
}

// Invoke runs the tool called name for c with args (JSON; empty means {}),
// and returns its result as JSON. The checks come in this order, and the
// first that fails ends the invocation before the tool runs:
//
//   - no tool of that name, or the tenant does not enable it: not_found
//     (404), so that a disabled tool does not reveal itself;
//   - the key lacks a scope the tool requires: forbidden (403), with the
//     missing scopes in the details;
//   - args are not a JSON value or fail the tool's schema: invalid_request
//     (400), with every failing JSON Pointer in the details.
//
// The tool then runs under its timeout: tool_timeout (504) when it ends
// first. A result that fails the tool's result schema is an internal error.
// Whatever happens, one audit record is written, synchronously, before
// Invoke returns; fromModel says a model asked for the call.
func (d *Dispatcher) Invoke(ctx context.Context, c tenant.Caller, name string, args []byte, fromModel bool) (json.RawMessage, error) {
	start := d.now()
	args = orEmptyObject(args)
	ctx, span := d.startSpan(ctx, c, name, fromModel)
	defer span.End()
	out, outcome, err := d.invoke(ctx, c, name, args)
	endSpan(span, outcome, err)
	rec := store.AuditRecord{
		Time: start.UTC(), Tenant: c.Tenant.ID, RequestID: c.RequestID, KeyID: c.KeyID(), Tool: auditName(name),
		ArgsSHA256: ArgsHash(args), Outcome: outcome, Latency: max(0, d.now().Sub(start)), FromModel: fromModel,
	}
	if err != nil {
		rec.ErrorCode = string(api.AsError(err).Code)
	}
	if aerr := d.record(ctx, rec); aerr != nil && err == nil {
		return nil, aerr
	}
	return out, err
}

// record writes rec to the audit log and counts it. The write is not cut
// short by a caller that goes away: the invocation happened.
func (d *Dispatcher) record(ctx context.Context, rec store.AuditRecord) error {
	label := rec.Tool
	if _, ok := d.reg.Lookup(label); !ok {
		label = "unknown"
	}
	d.invocations.WithLabelValues(rec.Tenant.String(), label, rec.Outcome).Inc()
	if _, err := d.audit.AppendAudit(context.WithoutCancel(ctx), rec); err != nil {
		d.log.Error("audit record not written", "tenant", rec.Tenant.String(), "request_id", rec.RequestID, "key", rec.KeyID,
			"tool", rec.Tool, "args_sha256", rec.ArgsSHA256, "outcome", rec.Outcome, "error_code", rec.ErrorCode,
			"from_model", rec.FromModel, "error", err)
		return api.Internal(fmt.Errorf("audit: %w", err))
	}
	return nil
}

func (d *Dispatcher) invoke(ctx context.Context, c tenant.Caller, name string, args []byte) (json.RawMessage, string, error) {
	tool, ok := d.enabled(c.Tenant, name)
	if !ok {
		return nil, OutcomeDenied, api.Errorf(api.CodeNotFound, "tool %q does not exist", auditName(name))
	}
	if lack := missing(tool, c); len(lack) > 0 {
		return nil, OutcomeDenied, api.Errorf(api.CodeForbidden, "tool %q requires the scopes %s, which the API key lacks", name, strings.Join(lack, ", ")).
			WithDetails(map[string]any{"tool": name, "missing": lack})
	}
	ps, err := tool.ValidateArgs(args)
	if err != nil {
		return nil, OutcomeInvalid, api.Errorf(api.CodeInvalidRequest, "tool %q: the arguments are not JSON", name).
			WithDetails(map[string]any{"tool": name, "errors": []Problem{{Path: "/", Message: "not a JSON value"}}})
	}
	if len(ps) > 0 {
		return nil, OutcomeInvalid, InvalidArgs(name, ps)
	}

	rctx, cancel := context.WithTimeout(ctx, tool.Timeout)
	defer cancel()
	v, err := tool.Run(rctx, c, args)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, OutcomeError, api.Errorf(api.CodeUnavailable, "the request was cancelled")
		case errors.Is(rctx.Err(), context.DeadlineExceeded):
			return nil, OutcomeTimeout, api.Errorf(api.CodeToolTimeout, "tool %q did not finish within %s", name, tool.Timeout).
				WithDetails(map[string]any{"tool": name, "timeoutMs": tool.Timeout.Milliseconds()})
		}
		e := api.AsError(err)
		if e.Code == api.CodeInvalidRequest {
			return nil, OutcomeInvalid, e
		}
		return nil, OutcomeError, e
	}
	out, err := encode(v)
	if err != nil {
		return nil, OutcomeError, api.Internal(fmt.Errorf("tool %s: encode result: %w", name, err))
	}
	if ps, err := validate(tool.result, out); err != nil || len(ps) > 0 {
		return nil, OutcomeError, api.Internal(fmt.Errorf("tool %s: result fails its schema: %v %v", name, ps, err))
	}
	return out, OutcomeOK, nil
}

// orEmptyObject returns args, or {} when they are empty: no arguments.
func orEmptyObject(args []byte) []byte {
	if len(bytes.TrimSpace(args)) == 0 {
		return []byte("{}")
	}
	return args
}

// InvalidArgs is the error of arguments that fail a tool's schema: every
// problem is in the details, under "errors", and the message names them.
func InvalidArgs(tool string, ps []Problem) *api.Error {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Path + ": " + p.Message
	}
	return api.Errorf(api.CodeInvalidRequest, "tool %q: invalid arguments: %s", tool, strings.Join(parts, "; ")).
		WithDetails(map[string]any{"tool": tool, "errors": ps})
}

func encode(v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// auditName is name as the audit log keeps it: valid UTF-8, at most
// maxAuditName bytes.
func auditName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	if len(name) <= maxAuditName {
		return name
	}
	cut := maxAuditName
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut]
}
