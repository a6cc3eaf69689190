// greeter: the platform's sample workload. It serves a configured greeting and the number of
// rows in a table it owns in PostgreSQL; /readyz fails unless it can query that table.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is stamped at build time: -ldflags "-X main.version=$GREETER_VERSION".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println("greeter", version)
		return
	}
	// GREETER_CONFIG_DIR: settings as files (a mounted ConfigMap), re-read every second, so a
	// change in Git reaches the running pods without a rollout.
	dir, _ := os.LookupEnv("GREETER_CONFIG_DIR")
	lookup := func() (func(string) (string, bool), string) {
		if dir == "" {
			return os.LookupEnv, ""
		}
		return DirLookup(dir, os.LookupEnv, os.ReadFile)
	}
	getenv, fingerprint := lookup()
	cfg, configErr := ParseConfig(getenv)
	log := newLogger(os.Stdout, redactor(cfg.PG.Password))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var watch func(*Server)
	if dir != "" {
		watch = func(srv *Server) { watchConfig(ctx, srv, log, fingerprint, lookup, time.Second) }
	}
	if err := run(ctx, cfg, configErr, log, nil, watch); err != nil {
		log.Error("exiting", "error", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled (SIGTERM), then drains. ln may be nil (listen on cfg.Listen).
// The store is a pgx pool; tests pass a fake to runWith instead.
// watch (may be nil) runs beside the server once it exists (the config reload loop).
func run(ctx context.Context, cfg Config, configErr error, log *slog.Logger, ln net.Listener, watch func(*Server)) error {
	store, configErr := openStore(ctx, cfg, configErr, log)
	defer func() {
		if c, ok := store.(interface{ Close() }); ok && c != nil {
			c.Close()
		}
	}()
	return runWith(ctx, cfg, configErr, store, log, ln, watch)
}

// openStore connects (lazily) with a valid configuration and creates the table in the background.
func openStore(ctx context.Context, cfg Config, configErr error, log *slog.Logger) (Store, error) {
	if configErr != nil {
		return nil, configErr
	}
	pg, err := newPGStore(cfg.PG)
	if err != nil {
		// The settings passed our checks but not pgx's: report it like any config problem.
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	go func() {
		if err := initSchema(ctx, pg, 8, func(attempt int, err error) {
			log.Warn("database not ready yet", "attempt", attempt, "error", err)
		}); err == nil {
			log.Info("table greeter_visits present")
		}
	}()
	return pg, nil
}

// watchConfig re-reads the settings every interval and, when the files changed, swaps in the new
// configuration and a store built from it (the old store is closed once swapped out). Bounded by
// ctx (the process's life). The listen address is not reloaded.
func watchConfig(ctx context.Context, srv *Server, log *slog.Logger, fingerprint string, lookup func() (func(string) (string, bool), string), interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		getenv, fp := lookup()
		if fp == fingerprint {
			continue
		}
		fingerprint = fp
		cfg, configErr := ParseConfig(getenv)
		store, configErr := openStore(ctx, cfg, configErr, log)
		if configErr != nil {
			log.Error("configuration reloaded, invalid: not ready until it is fixed", "error", configErr)
		} else {
			log.Info("configuration reloaded", "postgres", cfg.PG.String())
		}
		if old, ok := srv.Reload(cfg, configErr, store).(interface{ Close() }); ok && old != nil {
			old.Close()
		}
	}
}

func runWith(ctx context.Context, cfg Config, configErr error, store Store, log *slog.Logger, ln net.Listener, watch func(*Server)) error {
	log.Info("starting", "version", version, "listen", cfg.Listen, "postgres", cfg.PG.String())
	if configErr != nil {
		// Not fatal: the pod stays alive and not-ready, and /readyz says why.
		log.Error("configuration invalid: not ready until it is fixed", "error", configErr)
	}
	srv := NewServer(cfg, configErr, store, log, version)
	if watch != nil {
		go watch(srv)
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
		}
	}
	httpSrv := &http.Server{
		Handler:           srv.Routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	srv.StartDraining()
	log.Info("shutdown signal: draining", "drain_delay", cfg.DrainDelay.String(), "timeout", cfg.ShutdownTimeout.String())
	if cfg.DrainDelay > 0 {
		// Keep serving (readiness failing) until the endpoints controller has dropped this pod.
		time.Sleep(cfg.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		return fmt.Errorf("in-flight requests not finished within %s: %w", cfg.ShutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}
