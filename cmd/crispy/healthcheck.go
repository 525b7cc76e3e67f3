package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthcheckURL is the readiness probe of the operator listener at
// its default address (--metrics-addr 127.0.0.1:9090).
const defaultHealthcheckURL = "http://127.0.0.1:9090/readyz"

func newHealthcheck(e *env) *cobra.Command {
	var (
		target  string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Probe a running server's readiness (for container health checks)",
		Long: `Probe a running server: exit 0 when the URL answers 200, else 1 with one line
on standard error saying why.

It is the health check of container images that have no curl or wget. The
default URL is the readiness probe of the operator listener at its default
address; a server started with another --metrics-addr, or with
--metrics-addr off, is probed with --url (or CRISPY_HEALTHCHECK_URL) naming
its /readyz there or on the API's address. Redirects are not followed and
no proxy is used.`,
		Example: `  crispy healthcheck
  crispy healthcheck --url http://127.0.0.1:8080/readyz --timeout 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("url") {
				if v, ok := e.lookup("CRISPY_HEALTHCHECK_URL"); ok && v != "" {
					target = v
				}
			}
			u, err := url.Parse(target)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &exitError{code: 2, err: fmt.Errorf("--url %q: want an http:// or https:// URL", target)}
			}
			if timeout <= 0 {
				return &exitError{code: 2, err: errors.New("--timeout must be positive")}
			}
			if err := probe(cmd.Context(), u.String(), timeout); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("healthcheck %s: %w", u.Redacted(), err)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", defaultHealthcheckURL, "URL to probe (also CRISPY_HEALTHCHECK_URL)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the whole answer")
	return cmd
}

// probe sends one GET to target and returns nil when it answers 200, else
// an error of one line: the status with the envelope's message, or why no
// answer came.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s", timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	reason := resp.Status
	if msg := envelopeMessage(body); msg != "" {
		reason += ": " + msg
	}
	return errors.New(reason)
}

// envelopeMessage returns the error message of a crispy error envelope on
// one line, or "" when body is not one.
func envelopeMessage(body []byte) string {
	var env struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		return ""
	}
	return strings.Join(strings.Fields(env.Error.Message), " ")
}
