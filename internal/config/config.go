// Package config holds the server's own configuration (as opposed to tenant
// configuration): flags, their CRISPY_* environment variables, defaults and
// validation. It is read only at the edge, by cmd/crispy.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Env is the environment a server runs in.
type Env string

// The environments. Development keys are honoured only in Dev.
const (
	Dev   Env = "dev"
	Stage Env = "stage"
	Prod  Env = "prod"
)

// Set implements pflag.Value.
func (e *Env) Set(s string) error {
	switch Env(s) {
	case Dev, Stage, Prod:
		*e = Env(s)
		return nil
	}
	return fmt.Errorf("must be dev, stage or prod")
}

// String implements pflag.Value.
func (e *Env) String() string { return string(*e) }

// Type implements pflag.Value.
func (e *Env) Type() string { return "env" }

// MetricsOff is the MetricsAddr that serves no operator listener.
const MetricsOff = "off"

// Serve is the configuration of `crispy serve`.
type Serve struct {
	Addr       string
	DataDir    string
	TenantsDir string
	Env        Env
	LogLevel   string

	// MetricsAddr is the address of the operator listener, which serves
	// GET /metrics (and /livez, /readyz) apart from the API; MetricsOff
	// disables it.
	MetricsAddr string

	ShutdownTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// MaxInFlight caps the requests being served at once; more are refused
	// at once with 503 (0: no cap). Each tenant gets at most a quarter of
	// it unless its limits.maxInFlight says otherwise.
	MaxInFlight int
	// MinBodyRate is the slowest a request body may arrive, in bytes per
	// second on average after the first seconds; a slower one is cut off
	// with 408 (0: no minimum).
	MinBodyRate int
	// Heartbeat is the interval of SSE comments while a stream waits for
	// its first token.
	Heartbeat time.Duration
	// TrustedProxies are the CIDR prefixes of reverse proxies whose
	// X-Forwarded-For is believed when finding a client's IP.
	TrustedProxies []string
	// UpstreamTransport is UpstreamAuto or "" (each provider's
	// providers.<name>.transport, h1 by default for plain http) or
	// UpstreamNetHTTP (net/http for every provider call, whatever the
	// tenants say): the server-wide way back from internal/h1.
	UpstreamTransport string

	// Store is where the server keeps its state: "" for SQLite in DataDir
	// (the embedded default), or the URL of a PostgreSQL database
	// (postgres://USER@HOST/DB), which replicas share. It may hold a
	// password: log it only through Redacted.
	Store string
	// Redis is the URL of a Redis (redis://HOST:6379/0, rediss:// for
	// TLS) that holds rate limits, open-stream slots and budgets shared by
	// replicas; "" keeps them in this process.
	Redis string
	// RedisPrefix starts every Redis key, so that several deployments (or
	// tests) may share one Redis.
	RedisPrefix string
	// RedisLeaseTTL is how long an open-stream slot or budget reservation
	// in Redis outlives its replica's last renewal: the most a replica
	// killed with SIGKILL holds them.
	RedisLeaseTTL time.Duration
	// IndexMemory bounds, in MiB, the estimated memory of the knowledge
	// base indexes this process holds: past it the least recently used
	// tenants' indexes are dropped and loaded again on their next use
	// (0: no bound).
	IndexMemory int
	// ConfigSource is where the tenant configs served come from:
	// ConfigFromFolder (the tenants folder, deployed to the store at start
	// and on SIGHUP, then served from it) or ConfigFromStore (the versions
	// active in the store, deployed by an operator; the folder is not
	// read).
	ConfigSource string
	// OperatorKeys is the file of operator credentials (their hashes) that
	// the operator API accepts; empty: the operator API is off.
	OperatorKeys string
	// Console serves the web console under /console/ (default true).
	Console bool
}

// The values of --config-source.
const (
	ConfigFromFolder = "folder"
	ConfigFromStore  = "store"
)

// The values of --upstream-transport.
const (
	UpstreamAuto    = "auto"
	UpstreamNetHTTP = "net/http"
)

// Defaults returns the configuration used when nothing is set: the example
// tenants on embedded storage, listening on localhost.
func Defaults() Serve {
	return Serve{
		Addr:              "127.0.0.1:8080",
		MetricsAddr:       "127.0.0.1:9090",
		DataDir:           "./data",
		TenantsDir:        "./tenants",
		ConfigSource:      ConfigFromFolder,
		Console:           true,
		Env:               Dev,
		LogLevel:          "info",
		ShutdownTimeout:   30 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		Heartbeat:         10 * time.Second,
		MaxInFlight:       4096,
		MinBodyRate:       1024,
		UpstreamTransport: UpstreamAuto,
		RedisPrefix:       "crispy:",
		RedisLeaseTTL:     30 * time.Second,
	}
}

// Bind registers c's fields as flags on fs, with c's current values as defaults.
func (c *Serve) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "address to listen on (host:port)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "address of the operator listener serving /metrics (host:port), or \"off\"")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "folder for embedded storage (created if missing)")
	fs.StringVar(&c.TenantsDir, "tenants", c.TenantsDir, "folder of tenant configs, one <id>/tenant.jsonc each")
	fs.Var(&c.Env, "env", "environment: dev, stage or prod (development keys work only in dev)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to drain in-flight requests on SIGINT/SIGTERM")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "time allowed to read request headers")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "time allowed to read a whole request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time allowed to write a response, streams included")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "requests served at once; more get 503 at once (0: no cap); a tenant gets a quarter unless its limits.maxInFlight says otherwise")
	fs.IntVar(&c.MinBodyRate, "min-body-rate", c.MinBodyRate, "slowest average rate of a request body in bytes/s after its first 5 s; slower gets 408 (0: no minimum)")
	fs.DurationVar(&c.Heartbeat, "heartbeat", c.Heartbeat, "interval of SSE heartbeats while a stream waits for its first token")
	fs.StringSliceVar(&c.TrustedProxies, "trusted-proxies", c.TrustedProxies, "CIDRs of reverse proxies whose X-Forwarded-For is trusted (comma-separated)")
	fs.StringVar(&c.Store, "store", c.Store, "PostgreSQL URL of the store replicas share (postgres://USER@HOST/DB); empty: SQLite in --data")
	fs.StringVar(&c.Redis, "redis", c.Redis, "Redis URL for rate limits, stream slots and budgets shared by replicas (redis://HOST:6379/0); empty: kept in this process")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of every Redis key, to share one Redis between deployments")
	fs.DurationVar(&c.RedisLeaseTTL, "redis-lease-ttl", c.RedisLeaseTTL, "how long a dead replica's stream slots and budget reservations in Redis outlive it (renewed every third of it)")
	fs.IntVar(&c.IndexMemory, "index-memory", c.IndexMemory, "MiB of knowledge-base indexes held in memory; past it the least recently used tenants' are dropped and reloaded on use (0: no bound)")
	fs.StringVar(&c.ConfigSource, "config-source", c.ConfigSource, "where the tenant configs come from: folder (--tenants, deployed to the store at start and on SIGHUP) or store (the versions active in the store, as deployed by an operator)")
	fs.StringVar(&c.OperatorKeys, "operator-keys", c.OperatorKeys, "JSONC file of operator credentials' hashes ({\"keys\": [{\"id\", \"hash\"}]}) for the operator API under /operator/v1; empty: the operator API is off")
	fs.BoolVar(&c.Console, "console", c.Console, "serve the web console under /console/ (--console=false turns it off)")
	fs.StringVar(&c.UpstreamTransport, "upstream-transport", c.UpstreamTransport, "HTTP client of plain-http provider calls: auto (each provider's transport, h1 by default) or net/http (Go's standard transport for all)")
}

// EnvName is the environment variable that sets the flag name: CRISPY_ and
// the flag in upper case with '-' as '_' (--log-level: CRISPY_LOG_LEVEL).
func EnvName(flag string) string {
	return "CRISPY_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// its environment variable, if set. Flags win over the environment, which
// wins over defaults.
func ApplyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := EnvName(f.Name)
		if v, ok := lookup(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// TrustedPrefixes parses TrustedProxies; a bare address is a /32 or /128.
func (c *Serve) TrustedPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies %q: want an IP address or CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Validate reports what is wrong with c.
func (c Serve) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port", c.Addr))
	}
	if c.MetricsAddr != MetricsOff {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: want host:port, or %q to serve no metrics", c.MetricsAddr, MetricsOff))
		} else if c.MetricsAddr == c.Addr && port != "0" {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: must differ from --addr: metrics are not served on the API's listener", c.MetricsAddr))
		}
	}
	if c.MinBodyRate < 0 {
		errs = append(errs, fmt.Errorf("--min-body-rate %d: must not be negative", c.MinBodyRate))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if c.TenantsDir == "" {
		errs = append(errs, errors.New("--tenants must not be empty"))
	}
	switch c.Env {
	case Dev, Stage, Prod:
	default:
		errs = append(errs, fmt.Errorf("--env %q: want dev, stage or prod", c.Env))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--shutdown-timeout", c.ShutdownTimeout}, {"--read-header-timeout", c.ReadHeaderTimeout},
		{"--read-timeout", c.ReadTimeout}, {"--write-timeout", c.WriteTimeout}, {"--idle-timeout", c.IdleTimeout},
		{"--heartbeat", c.Heartbeat},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be greater than zero", d.flag))
		}
	}
	if _, err := c.TrustedPrefixes(); err != nil {
		errs = append(errs, err)
	}
	switch c.ConfigSource {
	case ConfigFromFolder, ConfigFromStore:
	default:
		errs = append(errs, fmt.Errorf("--config-source %q: want folder or store", c.ConfigSource))
	}
	if c.IndexMemory < 0 {
		errs = append(errs, errors.New("--index-memory must not be negative"))
	}
	if c.MaxInFlight < 0 {
		errs = append(errs, errors.New("--max-in-flight must not be negative"))
	}
	if c.Store != "" {
		if u, err := url.Parse(c.Store); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, fmt.Errorf("--store %q: want a PostgreSQL URL (postgres://USER@HOST/DB), or nothing for SQLite in --data", Redact(c.Store)))
		}
	}
	if c.Redis != "" {
		if u, err := url.Parse(c.Redis); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			errs = append(errs, fmt.Errorf("--redis %q: want a Redis URL (redis://HOST:6379/0 or rediss://...)", Redact(c.Redis)))
		}
		if c.RedisPrefix == "" {
			errs = append(errs, errors.New("--redis-prefix must not be empty"))
		}
		if c.RedisLeaseTTL < 300*time.Millisecond {
			errs = append(errs, errors.New("--redis-lease-ttl must be at least 300ms"))
		}
	}
	switch c.UpstreamTransport {
	case "", UpstreamAuto, UpstreamNetHTTP:
	default:
		errs = append(errs, fmt.Errorf("--upstream-transport %q: must be %s or %s", c.UpstreamTransport, UpstreamAuto, UpstreamNetHTTP))
	}
	return errors.Join(errs...)
}

// Redact returns the URL u with its password, if any, replaced by "xxxxx",
// for logs and errors; what is not a URL comes back as "(unparsable)".
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	return p.Redacted()
}
