package backends

import (
	"encoding/json"
	"flag"
	"slices"
	"testing"
)

func TestFlags(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"-store", "postgres://u@h/db", "-redis", "redis://h:6379/0", "-redis-prefix", "p:", "-limits", `{"rate":{"concurrentStreams":9}}`}); err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []string{"--store", "postgres://u@h/db", "--redis", "redis://h:6379/0", "--redis-prefix", "p:"}
	if got := f.Args(); !slices.Equal(got, want) {
		t.Errorf("Args() = %q, want %q", got, want)
	}
	if got := f.Describe(); got != "PostgreSQL + Redis" {
		t.Errorf("Describe() = %q", got)
	}
	if got := (Flags{}).Args(); len(got) != 0 {
		t.Errorf("no flags: Args() = %q", got)
	}
	for _, bad := range []Flags{{Store: "mysql://x"}, {Redis: "http://x"}, {RedisPrefix: "p:"}, {Limits: "[1]"}, {Limits: "{"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestMergeLimits(t *testing.T) {
	base := map[string]any{"knowledge": map[string]any{"maxChunks": 10, "maxJobs": 4}, "maxInFlight": 5}
	f := Flags{Limits: `{"knowledge":{"maxChunks":99},"maxInFlight":7,"rate":{"tenant":{"requests":1,"per":"1s"}}}`}
	got, err := f.MergeLimits(base)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	const want = `{"knowledge":{"maxChunks":99,"maxJobs":4},"maxInFlight":7,"rate":{"tenant":{"per":"1s","requests":1}}}`
	if string(b) != want {
		t.Errorf("merged = %s, want %s", b, want)
	}
	if base["maxInFlight"] != 5 || base["knowledge"].(map[string]any)["maxChunks"] != 10 {
		t.Errorf("base modified: %v", base)
	}
	none, err := (Flags{}).MergeLimits(nil)
	if err != nil || len(none) != 0 {
		t.Errorf("no -limits: %v, %v", none, err)
	}
}
