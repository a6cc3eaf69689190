package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, e map[string]string, store Store) (*Server, *syncBuffer) {
	t.Helper()
	cfg, cerr := ParseConfig(env(e))
	logs := &syncBuffer{}
	return NewServer(cfg, cerr, store, newLogger(logs, redactor(cfg.PG.Password)), "test"), logs
}

func do(t *testing.T, h http.Handler, method, path, contentType, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body is not JSON: %q", rec.Body.String())
	}
	return m
}

func TestRootReturnsTheGreetingAndTheRowCount(t *testing.T) {
	s, _ := newTestServer(t, validEnv(), &fakeStore{rows: []string{"a", "b"}})
	rec := do(t, s.Routes(), "GET", "/", "", "")
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := rec.Body.String(); got != `{"greeting":"Hello from the lab","rows":2}`+"\n" {
		t.Fatalf("body %q", got)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
}

func TestRootIsOnlyTheRoot(t *testing.T) {
	s, _ := newTestServer(t, validEnv(), &fakeStore{})
	if rec := do(t, s.Routes(), "GET", "/nope", "", ""); rec.Code != 404 {
		t.Fatalf("GET /nope: %d", rec.Code)
	}
	if rec := do(t, s.Routes(), "DELETE", "/", "", ""); rec.Code != 405 {
		t.Fatalf("DELETE /: %d", rec.Code)
	}
}

func TestPostVisitsInsertsARowAndReturnsTheNewCount(t *testing.T) {
	store := &fakeStore{rows: []string{"old"}}
	s, _ := newTestServer(t, validEnv(), store)
	rec := do(t, s.Routes(), "POST", "/visits", "text/plain", "  hello  ")
	if rec.Code != 201 || decode(t, rec)["rows"] != float64(2) {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
	rec = do(t, s.Routes(), "POST", "/visits", "application/json", `{"note":"from json"}`)
	if rec.Code != 201 || decode(t, rec)["rows"] != float64(3) {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
	rec = do(t, s.Routes(), "POST", "/visits", "", "")
	if rec.Code != 201 || decode(t, rec)["rows"] != float64(4) {
		t.Fatalf("status %d body %s", rec.Code, rec.Body)
	}
	if got := strings.Join(store.rows, "|"); got != "old|hello|from json|" {
		t.Fatalf("rows stored: %q", got)
	}
}

func TestPostVisitsRejectsBadBodies(t *testing.T) {
	store := &fakeStore{}
	s, _ := newTestServer(t, validEnv(), store)
	if rec := do(t, s.Routes(), "POST", "/visits", "application/json", "{not json"); rec.Code != 400 {
		t.Fatalf("bad JSON: %d", rec.Code)
	}
	if rec := do(t, s.Routes(), "POST", "/visits", "text/plain", strings.Repeat("x", 1025)); rec.Code != 400 {
		t.Fatalf("long note: %d", rec.Code)
	}
	if len(store.rows) != 0 {
		t.Fatalf("a rejected body inserted rows: %v", store.rows)
	}
}

func TestDatabaseErrorsAre503(t *testing.T) {
	s, logs := newTestServer(t, validEnv(), &fakeStore{err: errDown})
	for _, r := range []struct{ method, path string }{{"GET", "/"}, {"POST", "/visits"}} {
		rec := do(t, s.Routes(), r.method, r.path, "", "")
		if rec.Code != 503 || !strings.Contains(decode(t, rec)["error"].(string), "database unavailable") {
			t.Fatalf("%s %s: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
		// The client gets no driver details (addresses); the log has them.
		if strings.Contains(rec.Body.String(), "10.42.0.1") {
			t.Fatalf("driver details in the response: %s", rec.Body)
		}
	}
	if strings.Count(logs.String(), "connection refused") != 2 {
		t.Fatalf("database errors not logged: %s", logs)
	}
}

func TestHealthzNeverTouchesTheDatabase(t *testing.T) {
	// A store that would block forever: healthz must not call it.
	s, _ := newTestServer(t, map[string]string{}, &fakeStore{block: make(chan struct{})})
	rec := do(t, s.Routes(), "GET", "/healthz", "", "")
	if rec.Code != 200 || decode(t, rec)["status"] != "ok" {
		t.Fatalf("healthz: %d %s", rec.Code, rec.Body)
	}
}

func TestReadyzIsReadyWhenConfigIsValidAndTheDatabaseAnswers(t *testing.T) {
	s, logs := newTestServer(t, validEnv(), &fakeStore{})
	rec := do(t, s.Routes(), "GET", "/readyz", "", "")
	if rec.Code != 200 || decode(t, rec)["status"] != "ready" {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), `"msg":"ready"`) {
		t.Fatalf("transition to ready not logged: %s", logs)
	}
}

func TestReadyzFailsWithTheReasonWhenTheConfigIsInvalid(t *testing.T) {
	e := validEnv()
	e["GREETER_GREETING"] = ""
	s, _ := newTestServer(t, e, nil) // no store: main builds none for an invalid config
	rec := do(t, s.Routes(), "GET", "/readyz", "", "")
	if rec.Code != 503 || !strings.Contains(decode(t, rec)["reason"].(string), "GREETER_GREETING is empty") {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
	// The other routes say the same instead of panicking on the missing store.
	if rec := do(t, s.Routes(), "GET", "/", "", ""); rec.Code != 503 || !strings.Contains(rec.Body.String(), "GREETER_GREETING") {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, s.Routes(), "GET", "/healthz", "", ""); rec.Code != 200 {
		t.Fatalf("healthz must stay up: %d", rec.Code)
	}
}

func TestReadyzFailsWhenTheDatabaseFails(t *testing.T) {
	store := &fakeStore{err: errDown}
	s, logs := newTestServer(t, validEnv(), store)
	rec := do(t, s.Routes(), "GET", "/readyz", "", "")
	if rec.Code != 503 || !strings.Contains(decode(t, rec)["reason"].(string), "connection refused") {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
	do(t, s.Routes(), "GET", "/readyz", "", "")
	if n := strings.Count(logs.String(), `"msg":"not ready"`); n != 1 {
		t.Fatalf("want the transition logged once, got %d: %s", n, logs)
	}
	store.mu.Lock()
	store.err = nil
	store.mu.Unlock()
	if rec := do(t, s.Routes(), "GET", "/readyz", "", ""); rec.Code != 200 {
		t.Fatalf("recovered database still not ready: %d %s", rec.Code, rec.Body)
	}
}

func TestReadyzFailsWhenTheDatabaseIsTooSlow(t *testing.T) {
	// The store blocks until its context ends: readyz must give up after readyTimeout.
	s, _ := newTestServer(t, validEnv(), &fakeStore{block: make(chan struct{})})
	if s.readyTimeout != time.Second {
		t.Fatalf("default readiness timeout %s, want 1s", s.readyTimeout)
	}
	s.readyTimeout = 20 * time.Millisecond
	rec := do(t, s.Routes(), "GET", "/readyz", "", "")
	if rec.Code != 503 || !strings.Contains(decode(t, rec)["reason"].(string), "no answer within 20ms") {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
}

func TestReadyzFailsWhileDraining(t *testing.T) {
	s, _ := newTestServer(t, validEnv(), &fakeStore{})
	s.StartDraining()
	rec := do(t, s.Routes(), "GET", "/readyz", "", "")
	if rec.Code != 503 || decode(t, rec)["reason"] != "shutting down" {
		t.Fatalf("readyz: %d %s", rec.Code, rec.Body)
	}
	// Draining still serves requests.
	if rec := do(t, s.Routes(), "GET", "/", "", ""); rec.Code != 200 {
		t.Fatalf("GET / while draining: %d", rec.Code)
	}
}

func TestRequestsAreLoggedAsOneJSONLineEach(t *testing.T) {
	s, logs := newTestServer(t, validEnv(), &fakeStore{})
	do(t, s.Routes(), "GET", "/", "", "")
	do(t, s.Routes(), "GET", "/healthz", "", "")
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line (probes are not logged), got %d: %s", len(lines), logs)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatalf("not JSON: %s", lines[0])
	}
	if m["msg"] != "request" || m["path"] != "/" || m["status"] != float64(200) {
		t.Fatalf("line: %v", m)
	}
}
