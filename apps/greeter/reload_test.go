package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDirLookupFilesWinOverTheEnvironmentAndNeverCarryThePassword(t *testing.T) {
	files := map[string]string{"/cfg/greeting": "from the file", "/cfg/db-port": "6543", "/cfg/PGPASSWORD": "not-from-here"}
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
	getenv, fp := DirLookup("/cfg", env(validEnv()), read)
	cfg, err := ParseConfig(getenv)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if cfg.Greeting != "from the file" || cfg.PG.Port != 6543 {
		t.Fatalf("files did not win: %+v", cfg)
	}
	if cfg.PG.Host != validEnv()["PGHOST"] || cfg.PG.Password != validEnv()["PGPASSWORD"] {
		t.Fatalf("missing files must fall back to the environment, the password must come from it: %+v", cfg.PG.Host)
	}
	files["/cfg/db-port"] = "6544"
	if _, fp2 := DirLookup("/cfg", env(validEnv()), read); fp2 == fp {
		t.Fatal("the fingerprint must change when a file changes")
	}
}

func TestReloadSwapsConfigurationAndStoreForTheNextRequests(t *testing.T) {
	s, _ := newTestServer(t, validEnv(), &fakeStore{rows: []string{"a"}})
	if rec := do(t, s.Routes(), "GET", "/", "", ""); rec.Code != http.StatusOK || decode(t, rec)["greeting"] != validEnv()["GREETER_GREETING"] {
		t.Fatalf("before: %d %s", rec.Code, rec.Body)
	}
	e := validEnv()
	e["GREETER_GREETING"] = "reloaded"
	cfg, cerr := ParseConfig(env(e))
	old := s.Reload(cfg, cerr, &fakeStore{rows: []string{"a", "b"}})
	if old == nil {
		t.Fatal("Reload must hand back the store it replaced")
	}
	rec := do(t, s.Routes(), "GET", "/", "", "")
	if m := decode(t, rec); m["greeting"] != "reloaded" || m["rows"] != float64(2) {
		t.Fatalf("after: %v", m)
	}
	// A broken configuration reloaded: not ready, and / answers 503.
	e["PGPORT"] = "not a port"
	cfg, cerr = ParseConfig(env(e))
	s.Reload(cfg, cerr, nil)
	if rec := do(t, s.Routes(), "GET", "/readyz", "", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz after a bad reload: %d", rec.Code)
	}
	if rec := do(t, s.Routes(), "GET", "/", "", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("root after a bad reload: %d", rec.Code)
	}
}

func TestWatchConfigReloadsWhenAFileChanges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("greeting", "first")
	base := validEnv()
	lookup := func() (func(string) (string, bool), string) { return DirLookup(dir, env(base), os.ReadFile) }
	getenv, fp := lookup()
	cfg, cerr := ParseConfig(getenv)
	s := NewServer(cfg, cerr, &fakeStore{}, newLogger(io.Discard, redactor("")), "test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchConfig(ctx, s, newLogger(io.Discard, redactor("")), fp, lookup, 10*time.Millisecond)
	write("greeting", "second")
	deadline := time.Now().Add(5 * time.Second)
	for s.current().cfg.Greeting != "second" {
		if time.Now().After(deadline) {
			t.Fatal("the change was not reloaded within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The reloaded configuration builds its own store (a pgx pool, lazily connecting).
	if s.current().store == nil || errors.Is(s.current().configErr, context.Canceled) {
		t.Fatalf("reloaded state: %+v", s.current().configErr)
	}
}
