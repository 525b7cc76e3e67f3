package app

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxSecretFileBytes bounds a secret read from a file.
const MaxSecretFileBytes = 64 << 10

// lookupSecret resolves a secret that a tenant config names by environment
// variable (apiKeyEnv, headerEnv, tokenEnv): the variable's value, or, when
// the variable is unset and NAME_FILE is set, the content of the file it
// names, without its trailing newline (the convention of mounted secrets:
// Docker and Kubernetes secrets, systemd credentials). The file is read
// each time the tenant's providers are built (at start and at every config
// change), so a rotated mounted secret is picked up by the next reload.
func (a *App) lookupSecret(name string) (string, bool, error) {
	if v, ok := a.lookupEnv(name); ok {
		return v, true, nil
	}
	path, ok := a.lookupEnv(name + "_FILE")
	if !ok || path == "" {
		return "", false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false, fmt.Errorf("%s_FILE: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileBytes+1))
	if err != nil {
		return "", false, fmt.Errorf("%s_FILE: %w", name, err)
	}
	if len(b) > MaxSecretFileBytes {
		return "", false, fmt.Errorf("%s_FILE: %s is larger than %d bytes", name, path, MaxSecretFileBytes)
	}
	return strings.TrimRight(string(b), "\r\n"), true, nil
}
