// Package version reports the version of the crispy binary.
package version

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/crispy-enigma/crispy/internal/version.Version=v1.2.3".
var Version = "dev"

// Info describes the running binary.
type Info struct {
	Version string `json:"version"`
	// Commit, Time and Modified come from the VCS stamp the go command
	// writes into a binary built from a checkout (-buildvcs, on by default):
	// the revision, its commit time, and whether the tree had changes.
	Commit    string     `json:"commit,omitempty"`
	Time      *time.Time `json:"time,omitempty"`
	Modified  bool       `json:"modified,omitempty"`
	GoVersion string     `json:"goVersion"`
}

// Get returns the version and, when the binary was built from a VCS checkout,
// its commit.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(Version, bi)
}

// fromBuildInfo reads the VCS settings of bi (nil: none).
func fromBuildInfo(v string, bi *debug.BuildInfo) Info {
	info := Info{Version: v, GoVersion: runtime.Version()}
	if bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				info.Time = &t
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String formats info on one line: "crispy v1.2.3 (0123abcd4567, 2026-12-07T18:00:00Z, modified) go1.26.8".
func (info Info) String() string {
	s := "crispy " + info.Version
	if info.Commit != "" {
		commit := info.Commit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		s += " (" + commit
		if info.Time != nil {
			s += ", " + info.Time.UTC().Format(time.RFC3339)
		}
		if info.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s + " " + info.GoVersion
}
