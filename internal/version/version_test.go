package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "crispy dev " + Get().GoVersion},
		{"no VCS stamp", &debug.BuildInfo{GoVersion: "go1.26.8"}, "crispy dev go1.26.8"},
		{"clean checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-07T18:00:00Z"},
			{Key: "vcs.modified", Value: "false"},
		}}, "crispy dev (0123456789ab, 2026-12-07T18:00:00Z) go1.26.8"},
		{"modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-07T18:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}, "crispy dev (0123456789ab, 2026-12-07T18:00:00Z, modified) go1.26.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuildInfo("dev", tt.bi).String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	info := fromBuildInfo("v1.2.3", &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.time", Value: "2026-12-07T18:00:00Z"}, {Key: "vcs.revision", Value: "abc"}}})
	if info.Version != "v1.2.3" || info.Time == nil || info.Time.Year() != 2026 || info.Commit != "abc" {
		t.Errorf("info = %+v", info)
	}
}
