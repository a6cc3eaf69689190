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
	cfg, configErr := ParseConfig(os.LookupEnv)
	log := newLogger(os.Stdout, redactor(cfg.PG.Password))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, configErr, log, nil); err != nil {
		log.Error("exiting", "error", err)
		os.Exit(1)
	}
}

// run serves until ctx is cancelled (SIGTERM), then drains. ln may be nil (listen on cfg.Listen).
// The store is a pgx pool; tests pass a fake to runWith instead.
func run(ctx context.Context, cfg Config, configErr error, log *slog.Logger, ln net.Listener) error {
	var store Store
	if configErr == nil {
		pg, err := newPGStore(cfg.PG)
		if err != nil {
			// The settings passed our checks but not pgx's: report it like any config problem.
			configErr = &ConfigError{Problems: []string{err.Error()}}
		} else {
			defer pg.Close()
			store = pg
			go func() {
				if err := initSchema(ctx, pg, 8, func(attempt int, err error) {
					log.Warn("database not ready yet", "attempt", attempt, "error", err)
				}); err == nil {
					log.Info("table greeter_visits present")
				}
			}()
		}
	}
	return runWith(ctx, cfg, configErr, store, log, ln)
}

func runWith(ctx context.Context, cfg Config, configErr error, store Store, log *slog.Logger, ln net.Listener) error {
	log.Info("starting", "version", version, "listen", cfg.Listen, "postgres", cfg.PG.String())
	if configErr != nil {
		// Not fatal: the pod stays alive and not-ready, and /readyz says why.
		log.Error("configuration invalid: not ready until it is fixed", "error", configErr)
	}
	srv := NewServer(cfg, configErr, store, log, version)
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
