package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/presenced/presenced/messages"
)

// maxBodyBytes bounds an API request body.
const maxBodyBytes = 64 << 10

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	if s.opts.MetricsEnabled && s.opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("POST /v1/conversations", s.authed(s.createConversation))
	mux.HandleFunc("GET /v1/conversations", s.authed(s.listConversations))
	mux.HandleFunc("GET /v1/conversations/{id}/messages", s.authed(s.getHistory))
	mux.HandleFunc("GET /v1/presence/{userId}", s.authed(s.getPresence))
	mux.HandleFunc("GET /v1/cluster/members", s.authed(s.adminOnly("list the cluster's members", s.listMembers)))
	// The Go profiler, for ADMINs: how the memory and CPU figures of
	// docs/benchmarks.md were explained.
	mux.HandleFunc("GET /debug/pprof/", s.authed(s.adminOnly("profile the server", pprof.Index)))
	mux.HandleFunc("GET /debug/pprof/profile", s.authed(s.adminOnly("profile the server", pprof.Profile)))
	// The execution trace shows what the CPU profile cannot: goroutines
	// waiting to run, in syscalls, or blocked.
	mux.HandleFunc("GET /debug/pprof/trace", s.authed(s.adminOnly("trace the server", pprof.Trace)))
	mux.HandleFunc("GET /v1/info", s.serveInfo)
	if s.opts.UI != nil {
		mux.Handle("GET /{$}", s.opts.UI)
		mux.Handle("GET /ui/", s.opts.UI)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, messages.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	s.mux = mux
}

// serveInfo tells a client what it needs before connecting: how to
// authenticate and the limits it should respect. Nothing in it is secret.
func (s *Server) serveInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"authMode":            s.auth.mode,
		"visibility":          s.opts.Visibility,
		"heartbeatIntervalMs": s.engine.HeartbeatInterval().Milliseconds(),
		"maxMessageBytes":     s.opts.MaxMessageBytes,
		"maxFrameBytes":       s.opts.MaxFrameBytes,
	})
}

// serveReady: a member at its connection capacity is not ready either, so
// that a load balancer sends new clients to another member; the clients it
// holds are served as before.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if err := s.engine.Ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": err.Error()})
		return
	}
	if s.capacity.full() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable",
			"reason": fmt.Sprintf("holding %d connections, its capacity", s.capacity.max)})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

type authedHandler func(w http.ResponseWriter, r *http.Request, id Identity)

// authed authenticates an API request exactly as the upgrade is.
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id, ok := s.identify(w, r); ok {
			h(w, r, id)
		}
	}
}

func (s *Server) createConversation(w http.ResponseWriter, r *http.Request, id Identity) {
	var body struct {
		MemberIDs *[]string `json:"memberIds"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		s.fail(w, err)
		return
	}
	if body.MemberIDs == nil {
		s.fail(w, messages.Errorf(messages.CodeInvalidPayload, "memberIds is required"))
		return
	}
	conv, err := s.engine.CreateConversation(r.Context(), id.UserID, id.Role, *body.MemberIDs)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"conversationId": conv.Id, "memberIds": conv.MemberIds, "direct": conv.Direct, "createdAt": conv.CreatedAtMs,
	})
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, id Identity) {
	list, err := s.engine.Conversations(r.Context(), id.UserID)
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]messages.WireConversation, len(list))
	for i := range list {
		out[i] = list[i].Wire()
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request, id Identity) {
	q, err := historyQuery(r)
	if err != nil {
		s.fail(w, err)
		return
	}
	page, err := s.engine.History(r.Context(), id.UserID, q)
	if err != nil {
		s.fail(w, err)
		return
	}
	msgs := make([]*messages.WireMessage, len(page.Messages))
	for i, m := range page.Messages {
		msgs[i] = m.Wire()
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversationId": q.ConversationID, "messages": msgs, "hasMore": page.HasMore})
}

// historyQuery reads ?beforeSeq=&afterSeq=&limit= with the rules of the
// WebSocket history request.
func historyQuery(r *http.Request) (messages.HistoryQuery, error) {
	q := messages.HistoryQuery{ConversationID: r.PathValue("id"), Limit: defHistoryLimit}
	if !messages.ValidID(q.ConversationID) {
		return q, messages.Errorf(messages.CodeInvalidPayload, "%q is not a valid conversation id", clip(q.ConversationID))
	}
	query := r.URL.Query()
	limit := int64(q.Limit)
	// In a fixed order, so that a request with several bad fields is always
	// told of the same one.
	for _, f := range []struct {
		name string
		dst  *int64
	}{{"beforeSeq", &q.BeforeSeq}, {"afterSeq", &q.AfterSeq}, {"limit", &limit}} {
		v := query.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return q, messages.Errorf(messages.CodeInvalidPayload, "%s must be a non-negative integer", f.name)
		}
		*f.dst = n
	}
	if limit < 1 {
		return q, messages.Errorf(messages.CodeInvalidPayload, "limit must be 1-%d", maxHistoryLimit)
	}
	// As on the WebSocket: afterSeq without beforeSeq pages forward from it.
	q.Forward = query.Has("afterSeq") && q.BeforeSeq == 0
	q.Limit = int(min(limit, maxHistoryLimit))
	return q, nil
}

func (s *Server) getPresence(w http.ResponseWriter, r *http.Request, id Identity) {
	p, err := s.engine.Presence(r.Context(), id.UserID, id.Role, r.PathValue("userId"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// adminOnly refuses h to anyone but an ADMIN; what completes the refusal's
// "only an ADMIN may ...".
func (s *Server) adminOnly(what string, h http.HandlerFunc) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, id Identity) {
		if id.Role != messages.RoleAdmin {
			s.fail(w, messages.Errorf(messages.CodeForbidden, "only an ADMIN may %s", what))
			return
		}
		h(w, r)
	}
}

// listMembers shows the cluster to an ADMIN: every member with its address,
// age and connection count (-1 when it did not answer in time).
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	members, err := s.engine.Members(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	out := make([]map[string]any, len(members))
	now := time.Now()
	for i, m := range members {
		entry := map[string]any{"address": m.Address, "self": m.Self, "connections": m.Connections}
		if !m.JoinedAt.IsZero() {
			entry["joinedAt"] = m.JoinedAt.UnixMilli()
			entry["ageSeconds"] = int64(now.Sub(m.JoinedAt).Seconds())
		}
		out[i] = entry
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

// decodeBody reads a JSON object body of at most maxBodyBytes.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return messages.Errorf(messages.CodeTooLarge, "body over %d bytes", maxBodyBytes)
		case errors.As(err, &typeErr):
			return messages.Errorf(messages.CodeInvalidPayload, "%s has the wrong type", typeErr.Field)
		default:
			return messages.Errorf(messages.CodeBadJSON, "body must be one JSON object")
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return messages.Errorf(messages.CodeBadJSON, "body must be one JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code messages.Code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": string(code), "message": msg}})
}
