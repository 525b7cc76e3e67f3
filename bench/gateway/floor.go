package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
)

// floorArg, as the only flag, runs this program as the floor proxy: a bare
// net/http reverse proxy to the URL that follows, with no work of its own.
// What it adds to a call is what any Go proxy process adds on this machine
// (a process hop each way and net/http's server and client); crispy's own
// share is what crispy adds beyond it.
const floorArg = "-floor-proxy"

// runFloor serves the floor proxy to upstream on a free loopback port and
// prints its base URL on the first line of standard output.
func runFloor(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     t,
		FlushInterval: -1, // a stream's events go out as they arrive
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	return http.Serve(ln, rp)
}

// startFloor runs this program's floor proxy to upstream as its own
// process.
func startFloor(upstream string) (stop func(), url string, err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	return startProcess(exec.Command(self, floorArg, upstream))
}

// startProcess starts cmd, a server that prints its base URL on its first
// line, and returns that URL without a trailing /v1.
func startProcess(cmd *exec.Cmd) (stop func(), url string, err error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	stop = func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return nil, "", fmt.Errorf("no base URL on its first line: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return stop, strings.TrimSuffix(strings.TrimSpace(line), "/v1"), nil
}
