package httpapi

import (
	"net/http"

	"github.com/crispy-enigma/crispy/api"
)

// console serves the web console's pages and assets (GET /console/...).
func (s *Server) console(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Console == nil {
		return api.Errorf(api.CodeNotFound, "the web console is off on this server")
	}
	s.opts.Console.ServeHTTP(w, r)
	return nil
}

// consoleRedirect sends GET /console to the console's sign-in page.
func (s *Server) consoleRedirect(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Console == nil {
		return api.Errorf(api.CodeNotFound, "the web console is off on this server")
	}
	http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	return nil
}
