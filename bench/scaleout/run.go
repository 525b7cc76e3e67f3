package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// run runs the measures and returns what it measured, also when it fails
// part of the way.
func run(ctx context.Context, o options) (rep *report, err error) {
	rep = newReport(o)
	work, err := os.MkdirTemp("", "crispy-bench-scaleout-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(work)

	crispy := o.bin
	if crispy == "" {
		if crispy, err = build(ctx, work, "github.com/crispy-enigma/crispy/cmd/crispy"); err != nil {
			return rep, err
		}
	}
	chatBin, ragBin := o.chatBin, o.ragBin
	if chatBin == "" && o.has(measureChat) {
		if chatBin, err = build(ctx, work, "github.com/crispy-enigma/crispy/bench/chat"); err != nil {
			return rep, err
		}
	}
	if ragBin == "" && o.has(measureRAG) {
		if ragBin, err = build(ctx, work, "github.com/crispy-enigma/crispy/bench/rag"); err != nil {
			return rep, err
		}
	}

	set, err := newBackendSet(ctx, o.postgres, o.redis, o.allModes())
	defer func() {
		if cerr := set.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up: %w", cerr))
		}
	}()
	if err != nil {
		return rep, err
	}

	if o.has(measureGateway) {
		before := loadAvg()
		g, err := runGateway(ctx, o, crispy, work, set)
		rep.gateway = g
		rep.loads = append(rep.loads, fmt.Sprintf("gateway: %s before, %s after", before, loadAvg()))
		if err != nil {
			return rep, err
		}
	}
	if o.has(measureChat) {
		for _, m := range o.modes {
			before := loadAvg()
			args := chatArgs(o, crispy, set.envs[m])
			rep.commands = append(rep.commands, commandLine(chatBin, args))
			out, err := runChild(ctx, chatBin, args)
			rep.loads = append(rep.loads, fmt.Sprintf("chat %s: %s before, %s after", m, before, loadAvg()))
			if serr := saveReport(o.reports, "chat-"+strings.ReplaceAll(string(m), "+", "-")+".md", out); serr != nil {
				return rep, serr
			}
			if err != nil {
				return rep, fmt.Errorf("chat %s: %w", m, err)
			}
			runs, err := parseChat(out)
			if err != nil {
				return rep, fmt.Errorf("chat %s: %w", m, err)
			}
			rep.chat[m] = runs
		}
	}
	if o.has(measureRAG) {
		for _, m := range o.modes {
			before := loadAvg()
			args := ragArgs(o, crispy, set.envs[m])
			rep.commands = append(rep.commands, commandLine(ragBin, args))
			out, err := runChild(ctx, ragBin, args)
			rep.loads = append(rep.loads, fmt.Sprintf("rag %s: %s before, %s after", m, before, loadAvg()))
			if serr := saveReport(o.reports, "rag-"+strings.ReplaceAll(string(m), "+", "-")+".md", out); serr != nil {
				return rep, serr
			}
			if err != nil {
				return rep, fmt.Errorf("rag %s: %w", m, err)
			}
			res, err := parseRAG(out)
			if err != nil {
				return rep, fmt.Errorf("rag %s: %w", m, err)
			}
			rep.rag[m] = res
		}
	}
	return rep, nil
}

// commandLine writes a command for the report, quoting what needs it.
func commandLine(bin string, args []string) string {
	parts := []string{bin}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \"'{}$&|;<>*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
