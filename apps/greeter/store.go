package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is what the handlers need from PostgreSQL; tests use a fake.
type Store interface {
	// Count returns the number of rows in the service's table.
	Count(ctx context.Context) (int64, error)
	// AddVisit inserts one row and returns the new count.
	AddVisit(ctx context.Context, note string) (int64, error)
}

// The table this service owns. Created when missing, never dropped or altered.
const schemaSQL = `CREATE TABLE IF NOT EXISTS greeter_visits (
	id   bigserial PRIMARY KEY,
	at   timestamptz NOT NULL DEFAULT now(),
	note text
)`

// Two replicas starting together would race on CREATE TABLE IF NOT EXISTS (a unique violation in
// pg_type): a transaction-scoped advisory lock serialises them. The key is arbitrary but fixed.
const schemaLockKey = 0x67726565746572 // "greeter"

// pgStore talks to PostgreSQL through a pgx pool. The pool connects lazily: constructing it never
// blocks, so the process serves /healthz (and a failing /readyz) while the database is away.
type pgStore struct {
	pool *pgxpool.Pool

	// schemaLock (a one-slot channel, so waiting honours the caller's deadline) guards schemaReady.
	schemaLock  chan struct{}
	schemaReady atomic.Bool
}

// newPGStore builds the pool from the validated settings. The password is set on the parsed
// config, never formatted into a connection string.
func newPGStore(pg PGConfig) (*pgStore, error) {
	cfg, err := pgxpool.ParseConfig(pg.keywordDSN())
	if err != nil {
		return nil, fmt.Errorf("postgres settings: %w", err)
	}
	cfg.ConnConfig.Password = pg.Password
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.MaxConns = 4
	cfg.MinConns = 0
	cfg.HealthCheckPeriod = 30 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	return &pgStore{pool: pool, schemaLock: make(chan struct{}, 1)}, nil
}

func (s *pgStore) Close() { s.pool.Close() }

// ensureSchema creates the table once per process; later calls cost an atomic load. A caller
// waiting for another's attempt gives up at its own deadline (readiness keeps its 1 s bound).
func (s *pgStore) ensureSchema(ctx context.Context) error {
	if s.schemaReady.Load() {
		return nil
	}
	select {
	case s.schemaLock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("create table greeter_visits: %w", ctx.Err())
	}
	defer func() { <-s.schemaLock }()
	if s.schemaReady.Load() {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLockKey)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, schemaSQL)
		return err
	})
	if err != nil {
		return fmt.Errorf("create table greeter_visits: %w", err)
	}
	s.schemaReady.Store(true)
	return nil
}

func (s *pgStore) Count(ctx context.Context) (int64, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM greeter_visits").Scan(&n); err != nil {
		return 0, fmt.Errorf("count rows: %w", err)
	}
	return n, nil
}

func (s *pgStore) AddVisit(ctx context.Context, note string) (int64, error) {
	if err := s.ensureSchema(ctx); err != nil {
		return 0, err
	}
	var notePtr *string
	if note != "" {
		notePtr = &note
	}
	var n int64
	// One statement: the count includes the row just inserted.
	err := s.pool.QueryRow(ctx,
		`WITH ins AS (INSERT INTO greeter_visits (note) VALUES ($1) RETURNING 1)
		 SELECT (SELECT count(*) FROM greeter_visits) + (SELECT count(*) FROM ins)`, notePtr).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("insert row: %w", err)
	}
	return n, nil
}

// initSchema tries to create the table at start-up with bounded retries (capped backoff), so the
// first request usually finds it; when every attempt fails, requests and /readyz keep trying
// lazily through ensureSchema.
func initSchema(ctx context.Context, s *pgStore, attempts int, log func(attempt int, err error)) error {
	backoff := 250 * time.Millisecond
	var err error
	for i := 1; i <= attempts; i++ {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = s.ensureSchema(actx)
		cancel()
		if err == nil {
			return nil
		}
		log(i, err)
		if i == attempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		if backoff *= 2; backoff > 5*time.Second {
			backoff = 5 * time.Second
		}
	}
	return err
}
