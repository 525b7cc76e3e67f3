package provider

import (
	"fmt"
	"net/url"
)

// CheckBaseURL validates the base URL of a remote provider: http or https,
// a host, and no query, fragment or user info (credentials go in headers,
// from the environment, never in a URL that ends up in logs).
func CheckBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q: must not have a query, fragment or user info", s)
	}
	return nil
}
