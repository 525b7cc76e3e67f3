package httpapi

import (
	"net/http"

	"github.com/crispy-enigma/crispy/api"
	"github.com/crispy-enigma/crispy/internal/search"
)

// search answers POST /search: one envelope, or with "stream": true an SSE
// stream of sources, token, followUps and done events.
func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Search == nil {
		return api.Errorf(api.CodeUnavailable, "search is not available on this server")
	}
	var body search.Request
	if err := decodeJSON(w, r, &body); err != nil {
		return err
	}
	if !body.Stream {
		res, err := s.opts.Search.Search(r.Context(), Caller(r), body, nil)
		if err != nil {
			return err
		}
		res.TraceID = TraceID(r)
		return writeData(w, r, http.StatusOK, res)
	}

	release, err := s.acquireStream(w, r)
	if err != nil {
		return err
	}
	defer release()
	sink := &searchSink{sseSink{w: w, rc: http.NewResponseController(w), heartbeat: s.opts.Heartbeat}}
	defer sink.stopHeartbeat()
	res, err := s.opts.Search.Search(r.Context(), Caller(r), body, sink)
	if !sink.started {
		return err // nothing was sent: the error gets its status
	}
	sink.stopHeartbeat()
	if err != nil {
		e := api.AsError(err)
		logError(r, e)
		sink.event("error", api.Envelope{Error: e, TraceID: TraceID(r)})
		return nil
	}
	res.TraceID = TraceID(r)
	sink.event("followUps", api.SearchFollowUps{FollowUps: res.FollowUps})
	sink.event("done", res)
	return nil
}

// searchSink streams a search: the sources event starts the stream, and
// heartbeats run until the first token.
type searchSink struct{ sseSink }

func (s *searchSink) Sources(v api.SearchSources) error {
	s.Started()
	if !s.event("sources", v) {
		return errorString("client went away")
	}
	return nil
}
