package provider

// Redacted is what a logged or printed provider config shows in place of a
// secret, and what an adapter puts in place of a key a provider echoes.
const Redacted = "[redacted]"

// Redact returns Redacted when the secret s is set and "" when it is not,
// so that a log says whether a secret is there and never what it is.
func Redact(s string) string {
	if s == "" {
		return ""
	}
	return Redacted
}
