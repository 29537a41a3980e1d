// Package kvstore is an in-memory key-value store with TTLs and an HTTP API.
package kvstore

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

var ErrNotFound = errors.New("kvstore: key not found")

type entry struct {
	value   []byte
	expires time.Time
}

// Store is safe for concurrent use.
type Store struct {
	mu    sync.RWMutex
	data  map[string]entry
	now   func() time.Time
	stats struct{ gets, sets, misses uint64 }
}

func New() *Store {
	return &Store{data: make(map[string]entry), now: time.Now}
}

func (s *Store) Set(key string, value []byte, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := entry{value: append([]byte(nil), value...)}
	if ttl > 0 {
		e.expires = s.now().Add(ttl)
	}
	s.data[key] = e
	s.stats.sets++
}

func (s *Store) Get(key string) ([]byte, error) {
	s.mu.RLock()
	e, ok := s.data[key]
	s.mu.RUnlock()
	s.mu.Lock()
	s.stats.gets++
	if !ok || (!e.expires.IsZero() && s.now().After(e.expires)) {
		s.stats.misses++
		delete(s.data, key)
		s.mu.Unlock()
		return nil, ErrNotFound
	}
	s.mu.Unlock()
	return e.value, nil
}

// Sweep removes expired entries and returns how many were dropped.
func (s *Store) Sweep() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.data {
		if !e.expires.IsZero() && s.now().After(e.expires) {
			delete(s.data, k)
			n++
		}
	}
	return n
}

type setRequest struct {
	Value      string `json:"value"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"`
}

func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/kv/")
	if key == "" || strings.Contains(key, "/") {
		http.Error(w, "bad key", http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet:
		v, err := s.Get(key)
		if errors.Is(err, ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(v)
	case http.MethodPut:
		var req setRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.Set(key, []byte(req.Value), time.Duration(req.TTLSeconds)*time.Second)
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PUT")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}
