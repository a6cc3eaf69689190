package main

import (
	"bytes"
	"context"
	"errors"
	"sync"
)

// fakeStore is an in-memory Store. err, when set, is returned by every call; block, when set,
// makes calls wait until it is closed (or the context ends).
type fakeStore struct {
	mu      sync.Mutex
	rows    []string
	err     error
	block   chan struct{}
	entered chan struct{} // receives once per call that started
}

func (f *fakeStore) wait(ctx context.Context) error {
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *fakeStore) Count(ctx context.Context) (int64, error) {
	if err := f.wait(ctx); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return int64(len(f.rows)), nil
}

func (f *fakeStore) AddVisit(ctx context.Context, note string) (int64, error) {
	if err := f.wait(ctx); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows = append(f.rows, note)
	return int64(len(f.rows)), nil
}

var errDown = errors.New("dial tcp 10.42.0.1:5432: connect: connection refused")

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
