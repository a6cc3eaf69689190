package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultReadyTimeout = 1 * time.Second // a readiness query slower than this counts as a failure
	queryTimeout        = 3 * time.Second
	maxNoteBytes        = 1024
)

// state is what a configuration reload replaces as a whole (see Reload). store is nil when the
// configuration is invalid: every database route then answers 503 with the configuration problem.
type state struct {
	cfg       Config
	configErr error
	store     Store
	redact    func(string) string
}

// Server holds the handlers' dependencies.
type Server struct {
	st      atomic.Pointer[state]
	log     *slog.Logger
	version string
	// readyTimeout bounds the readiness query (defaultReadyTimeout; tests shorten it).
	readyTimeout time.Duration

	draining     atomic.Bool
	mu           sync.Mutex
	readyKnown   bool   // a readiness result has been logged
	lastNotReady string // its failure reason ("" = ready), to log transitions only
}

func NewServer(cfg Config, configErr error, store Store, log *slog.Logger, version string) *Server {
	s := &Server{log: log, version: version, readyTimeout: defaultReadyTimeout}
	s.Reload(cfg, configErr, store)
	return s
}

// Reload makes every request from now on use this configuration and store, and returns the store
// it replaces (the caller closes it). Requests already running finish with the old ones.
func (s *Server) Reload(cfg Config, configErr error, store Store) (old Store) {
	prev := s.st.Swap(&state{cfg: cfg, configErr: configErr, store: store, redact: redactor(cfg.PG.Password)})
	if prev == nil {
		return nil
	}
	return prev.store
}

func (s *Server) current() *state { return s.st.Load() }

// Routes is the service's HTTP API.
func (s *Server) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.logged(s.handleRoot))
	mux.HandleFunc("POST /visits", s.logged(s.handleVisit))
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	return mux
}

// StartDraining makes /readyz fail from now on (SIGTERM received).
func (s *Server) StartDraining() { s.draining.Store(true) }

type rootResponse struct {
	Greeting string `json:"greeting"`
	Rows     int64  `json:"rows"`
}

type visitResponse struct {
	Rows int64 `json:"rows"`
}

type errorResponse struct {
	Error string `json:"error"`
}

func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	st := s.current()
	if !s.usable(w, st) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	n, err := st.store.Count(ctx)
	if err != nil {
		s.dbFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rootResponse{Greeting: st.cfg.Greeting, Rows: n})
}

func (s *Server) handleVisit(w http.ResponseWriter, r *http.Request) {
	st := s.current()
	if !s.usable(w, st) {
		return
	}
	note, err := readNote(r)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	n, err := st.store.AddVisit(ctx, note)
	if err != nil {
		s.dbFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, visitResponse{Rows: n})
}

// readNote takes the optional note from a JSON body ({"note": "..."}) or a plain-text body.
func readNote(r *http.Request) (string, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNoteBytes+1))
	if err != nil {
		return "", errors.New("cannot read the request body")
	}
	if len(body) > maxNoteBytes {
		return "", errors.New("note too long (at most 1024 bytes)")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" && len(body) > 0 {
		var in struct {
			Note string `json:"note"`
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return "", errors.New(`body is not JSON of the form {"note": "..."}`)
		}
		return strings.TrimSpace(in.Note), nil
	}
	return strings.TrimSpace(string(body)), nil
}

// handleHealthz is liveness: the process is up and serving. It never touches the database, so
// a database outage or a bad config makes pods not-ready, never restarts them.
func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.version})
}

// handleReadyz is readiness: the configuration is valid and PostgreSQL answers a query on the
// service's table within readyTimeout.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	reason := s.notReadyReason(r.Context())
	s.noteReadiness(reason)
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": reason})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) notReadyReason(ctx context.Context) string {
	if s.draining.Load() {
		return "shutting down"
	}
	st := s.current()
	if st.configErr != nil {
		return st.redact(st.configErr.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	if _, err := st.store.Count(ctx); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "database: no answer within " + s.readyTimeout.String()
		}
		return st.redact("database: " + err.Error())
	}
	return ""
}

// noteReadiness logs readiness transitions only (probes come every few seconds).
func (s *Server) noteReadiness(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readyKnown && reason == s.lastNotReady {
		return
	}
	if reason == "" {
		s.log.Info("ready")
	} else {
		s.log.Warn("not ready", "reason", reason)
	}
	s.readyKnown, s.lastNotReady = true, reason
}

func (s *Server) usable(w http.ResponseWriter, st *state) bool {
	if st.configErr != nil {
		s.fail(w, http.StatusServiceUnavailable, st.configErr.Error())
		return false
	}
	return true
}

// dbFail answers 503 without the driver's details (host, user) and logs them instead.
func (s *Server) dbFail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("database error", "path", r.URL.Path, "error", err)
	s.fail(w, http.StatusServiceUnavailable, "database unavailable (see /readyz and the service's log)")
}

func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorResponse{Error: s.current().redact(msg)})
}

// logged writes one line per request (not for the probes).
func (s *Server) logged(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration_ms", time.Since(start).Milliseconds())
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// writeJSON ends the body with a newline so `curl` output ends its line.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// redactor returns a function that removes the secret from a text (errors of drivers and
// libraries are not ours to trust).
func redactor(secret string) func(string) string {
	if secret == "" {
		return func(s string) string { return s }
	}
	return func(s string) string { return strings.ReplaceAll(s, secret, "[redacted]") }
}

// newLogger writes one JSON object per line and runs every value through redact.
func newLogger(w io.Writer, redact func(string) string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Value.Kind() {
			case slog.KindString:
				return slog.String(a.Key, redact(a.Value.String()))
			case slog.KindAny:
				if err, ok := a.Value.Any().(error); ok {
					return slog.String(a.Key, redact(err.Error()))
				}
				if st, ok := a.Value.Any().(interface{ String() string }); ok {
					return slog.String(a.Key, redact(st.String()))
				}
			}
			return a
		},
	}))
}
