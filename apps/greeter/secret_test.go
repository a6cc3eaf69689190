package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func randomPassword(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

// closedLoopbackPort returns a loopback port nothing listens on (connections are refused at once).
func closedLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

// get returns "STATUS BODY", or "error: ..." (safe to call from any goroutine).
func get(method, url string) string {
	req, _ := http.NewRequest(method, url, strings.NewReader("a note"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Sprintf("error: %s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

// The real pgx driver against a refused loopback port: the password reaches neither the logs
// nor any response, while the driver's error does (so the error path really ran).
func TestThePasswordNeverAppearsInLogsOrResponses(t *testing.T) {
	pw := randomPassword(t)
	e := validEnv()
	e["PGHOST"], e["PGPORT"], e["PGPASSWORD"] = "127.0.0.1", closedLoopbackPort(t), pw
	cfg, cerr := ParseConfig(env(e))
	if cerr != nil {
		t.Fatal(cerr)
	}
	logs := &syncBuffer{}
	log := newLogger(logs, redactor(pw))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, nil, log, ln, nil) }()

	base := "http://" + ln.Addr().String()
	var bodies []string
	for _, r := range []struct{ method, path string }{{"GET", "/readyz"}, {"GET", "/"}, {"POST", "/visits"}} {
		bodies = append(bodies, get(r.method, base+r.path))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	all := strings.Join(bodies, "\n") + "\n" + logs.String()
	if !strings.Contains(all, "connect") || !strings.HasPrefix(bodies[0], "503 ") {
		t.Fatalf("the database error path did not run:\n%s", all)
	}
	if strings.Contains(all, pw) {
		t.Fatalf("password leaked:\n%s", all)
	}
	t.Logf("what an operator sees:\n%s", all)
	if !strings.Contains(logs.String(), "password=(set)") {
		t.Fatalf("start-up line should say the password is set:\n%s", logs)
	}
}

// A driver or library that echoes its connection string in an error must not leak it either.
func TestAnErrorEchoingThePasswordIsRedacted(t *testing.T) {
	pw := randomPassword(t)
	e := validEnv()
	e["PGPASSWORD"] = pw
	leaky := fmt.Errorf("cannot parse `postgres://greeter:%s@db/greeter`: %w", pw, errors.New("boom"))
	s, logs := newTestServer(t, e, &fakeStore{err: leaky})
	var out []string
	for _, p := range []string{"/readyz", "/"} {
		out = append(out, do(t, s.Routes(), "GET", p, "", "").Body.String())
	}
	s.log.Error("direct", "error", leaky, "text", "x"+pw+"x")
	s.log.Info("message with " + pw)
	all := strings.Join(out, "\n") + logs.String()
	if strings.Contains(all, pw) {
		t.Fatalf("password leaked:\n%s", all)
	}
	if strings.Count(all, "[redacted]") < 5 {
		t.Fatalf("expected the redaction marker in each place:\n%s", all)
	}
}

func TestConfigFormattingAndErrorsOmitThePassword(t *testing.T) {
	pw := randomPassword(t)
	e := validEnv()
	e["PGPASSWORD"], e["PGPORT"] = pw, "bad"
	c, err := ParseConfig(env(e))
	for _, s := range []string{err.Error(), c.PG.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c.PG), c.PG.keywordDSN()} {
		if strings.Contains(s, pw) {
			t.Fatalf("password in %q", s)
		}
	}
}

func TestShutdownDrainsInFlightRequestsThenReturnsNil(t *testing.T) {
	store := &fakeStore{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	cfg, _ := ParseConfig(env(validEnv()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWith(ctx, cfg, nil, store, newLogger(io.Discard, redactor("")), ln, nil) }()

	addr := ln.Addr().String()
	inflight := make(chan string, 1)
	go func() { inflight <- get("GET", "http://"+addr+"/") }()
	<-store.entered // the request is inside the handler
	cancel()        // SIGTERM
	// The listener closes: new connections are refused (bounded wait for that condition).
	refused := false
	for i := 0; i < 400 && !refused; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			refused = true
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	if !refused {
		t.Fatal("still accepting connections after the shutdown signal")
	}
	select {
	case err := <-done:
		t.Fatalf("returned before the in-flight request finished: %v", err)
	default:
	}
	close(store.block) // let the request finish
	if got := <-inflight; !strings.HasPrefix(got, "200 ") {
		t.Fatalf("in-flight request: %s", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("runWith: %v", err)
	}
}

func TestShutdownGivesUpAfterItsBound(t *testing.T) {
	store := &fakeStore{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	defer close(store.block)
	e := validEnv()
	e["GREETER_SHUTDOWN_TIMEOUT"] = "50ms"
	cfg, _ := ParseConfig(env(e))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWith(ctx, cfg, nil, store, newLogger(io.Discard, redactor("")), ln, nil) }()
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-store.entered
	cancel()
	if err := <-done; err == nil || !strings.Contains(err.Error(), "not finished within 50ms") {
		t.Fatalf("want a bounded shutdown error, got %v", err)
	}
}
