package main

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestThresholdsFile checks that the committed thresholds name every
// threshold, and nothing else.
func TestThresholdsFile(t *testing.T) {
	if _, err := readThresholds("thresholds.json"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("thresholds.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	ty := reflect.TypeFor[Thresholds]()
	for i := range ty.NumField() {
		name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
		if _, ok := m[name]; !ok {
			t.Errorf("thresholds.json lacks %s", name)
		}
	}
}

func TestEvaluate(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	flat := []sample{{goroutines: 20, heapMiB: 10, rssMiB: 50}, {goroutines: 21, heapMiB: 11, rssMiB: 51}, {goroutines: 20, heapMiB: 10, rssMiB: 50}}
	good := &result{elapsed: 10 * time.Second, requests: 1000, chat: ms(5, 6, 7), search: ms(3, 4), direct: ms(1, 1), gwThrough: ms(2, 3), samples: flat}
	th := Thresholds{ChatP95Ms: 50, SearchP95Ms: 50, GatewayAddedP95Ms: 5, ErrorRate: 0.01, HeapGrowthMiB: 8, RSSGrowthMiB: 8, GoroutineGrowth: 5, MinRequestsPerSec: 10}
	for _, c := range evaluate(good, th) {
		if !c.ok {
			t.Errorf("%s = %s fails %s", c.name, c.value, c.max)
		}
	}

	leak := append(append([]sample(nil), flat...), sample{goroutines: 500, heapMiB: 200, rssMiB: 300}, sample{goroutines: 900, heapMiB: 400, rssMiB: 600}, sample{goroutines: 950, heapMiB: 450, rssMiB: 650})
	bad := &result{elapsed: 10 * time.Second, requests: 1000, failed: 20, s5xx: 1, chat: ms(500), search: ms(3), direct: ms(1), gwThrough: ms(50), samples: leak}
	failed := map[string]bool{}
	for _, c := range evaluate(bad, th) {
		if !c.ok {
			failed[c.name] = true
		}
	}
	for _, want := range []string{"error rate", "5xx responses", "POST /chat p95 (request to done)", "gateway added latency p95 (through - direct)", "heap in use growth", "RSS growth", "goroutine growth"} {
		if !failed[want] {
			t.Errorf("%s passed, want it to fail", want)
		}
	}
	if failed["POST /search p95"] || failed["requests per second"] {
		t.Errorf("failed = %v: search and throughput should pass", failed)
	}
	// No samples at all is a failure, not a pass.
	for _, c := range evaluate(&result{elapsed: time.Second}, th) {
		if c.ok && strings.Contains(c.name, "growth") {
			t.Errorf("%s passed without samples", c.name)
		}
	}
}
