package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"data":{"ready":true},"traceId":"t"}`))
	})
	mux.HandleFunc("GET /draining", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"ok":false,"error":{"code":"unavailable","message":"not ready: the server is\nstarting or draining"},"traceId":"t"}`))
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/readyz", http.StatusFound)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/readyz"
	ln.Close()

	cases := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		wantStderr []string
	}{
		{"ready", nil, []string{"--url", srv.URL + "/readyz"}, 0, nil},
		{"not ready: status and message on one line", nil, []string{"--url", srv.URL + "/draining"}, 1,
			[]string{"crispy: healthcheck " + srv.URL + "/draining: 503 Service Unavailable: not ready: the server is starting or draining\n"}},
		{"not an envelope: the status alone", nil, []string{"--url", srv.URL + "/plain"}, 1,
			[]string{": 502 Bad Gateway\n"}},
		{"a redirect is not followed", nil, []string{"--url", srv.URL + "/moved"}, 1, []string{": 302 Found\n"}},
		{"unknown path", nil, []string{"--url", srv.URL + "/nope"}, 1, []string{": 404 Not Found"}},
		{"no answer in time", nil, []string{"--url", srv.URL + "/slow", "--timeout", "100ms"}, 1, []string{": no answer within 100ms\n"}},
		{"nothing listens", nil, []string{"--url", closed}, 1, []string{"crispy: healthcheck " + closed + ": ", "refused"}},
		{"URL from the environment", map[string]string{"CRISPY_HEALTHCHECK_URL": srv.URL + "/draining"}, nil, 1, []string{"/draining: 503"}},
		{"--url wins over the environment", map[string]string{"CRISPY_HEALTHCHECK_URL": srv.URL + "/draining"}, []string{"--url", srv.URL + "/readyz"}, 0, nil},
		{"a password in the URL is not printed", nil, []string{"--url", strings.Replace(srv.URL, "http://", "http://ops:s3cret@", 1) + "/draining"}, 1, []string{"ops:xxxxx@"}},
		{"not a URL", nil, []string{"--url", "127.0.0.1:9090/readyz"}, 2, []string{`crispy: --url "127.0.0.1:9090/readyz": want an http:// or https:// URL`}},
		{"no host", nil, []string{"--url", "http:///readyz"}, 2, []string{"want an http:// or https:// URL"}},
		{"zero timeout", nil, []string{"--url", srv.URL + "/readyz", "--timeout", "0s"}, 2, []string{"crispy: --timeout must be positive"}},
		{"no arguments", nil, []string{"now"}, 2, []string{`unknown command "now" for "crispy healthcheck"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runCLI(t, c.env, append([]string{"healthcheck"}, c.args...)...)
			if got.code != c.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", got.code, c.code, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("stdout %q, want nothing", got.stdout)
			}
			if c.code == 0 && got.stderr != "" {
				t.Errorf("stderr %q, want nothing", got.stderr)
			}
			if c.code == 1 && strings.Count(got.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", got.stderr)
			}
			for _, w := range c.wantStderr {
				if !strings.Contains(got.stderr, w) {
					t.Errorf("stderr %q does not contain %q", got.stderr, w)
				}
			}
			if strings.Contains(got.stderr, "s3cret") {
				t.Errorf("stderr shows the URL's password: %q", got.stderr)
			}
		})
	}
}

// TestHealthcheckServe probes a real server's operator listener: the
// default path of the image's HEALTHCHECK.
func TestHealthcheckServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	args := []string{
		"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--env", "dev",
		"--tenants", exampleTenants, "--data", filepath.Join(t.TempDir(), "data"), "--shutdown-timeout", "5s",
	}
	ctx, cancel := context.WithTimeout(t.Context(), serveTimeout)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, &stdout, &stderr, lookupIn(nil)) }()
	defer func() {
		cancel()
		<-done
	}()

	var metricsAddr string
	for metricsAddr == "" {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited with %d before starting:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if recs := recordsWithMsg(stderr.String(), "started"); len(recs) > 0 {
			metricsAddr, _ = recs[0]["metrics_addr"].(string)
			if metricsAddr == "" {
				t.Fatalf("the started record has no metrics_addr: %v", recs[0])
			}
		}
	}
	url := "http://" + metricsAddr + "/readyz"
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := runCLI(t, nil, "healthcheck", "--url", url)
		if got.code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck of a running server: exit %d, stderr %q", got.code, got.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
