package access

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchGuard wraps a handler that does nothing, so the benchmark measures
// the guard alone (no network).
func benchGuard(b *testing.B, secret string) http.Handler {
	g, err := New(Config{JWTSecret: secret, ConnectionsPerMinute: 1 << 30, SessionsPerIP: 1 << 30},
		slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	return g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
}

func BenchmarkGuardAnonymous(b *testing.B) {
	h := benchGuard(b, "")
	r := httptest.NewRequest("GET", "/ws", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

func BenchmarkGuardWithToken(b *testing.B) {
	h := benchGuard(b, secret)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/ws?token="+tok, nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
}

// BenchmarkTableMemory fills the per-IP table to its bound with idle IPs and
// reports the heap each one costs.
func BenchmarkTableMemory(b *testing.B) {
	const n = DefaultMaxTrackedIPs
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := newLimiter(120, 50, n, time.Now)
		for i := range n {
			release, _ := l.acquire("10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255))
			release()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if l.size() != n {
			b.Fatalf("table holds %d IPs, want %d", l.size(), n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/ip")
		runtime.KeepAlive(l)
	}
}
