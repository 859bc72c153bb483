// Package testlog collects the log output of a component under test (a
// server's slog handler, a helper process's stdout and stderr) so a test can
// look for a line in it, wait for one, and print it all when the test fails.
// It is imported by tests only, and imports nothing of tandem, so in-package
// tests anywhere (signaling's included) can use it.
package testlog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// WaitLimit is how long WaitForLine waits for a line: generous, since CI runs
// every package at once on two cores.
const WaitLimit = 15 * time.Second

// Buffer is an io.Writer that keeps everything written to it. The zero value
// is ready to use. It is safe for concurrent use: any number of goroutines
// may write while others read.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// NewLogger returns a text logger at level writing into a new Buffer, and
// that Buffer. If t fails, the Buffer is printed as "<name>:" when the test
// ends (after the cleanups registered later, such as closing the server,
// have run, so their log lines are included).
func NewLogger(t testing.TB, name string, level slog.Level) (*slog.Logger, *Buffer) {
	t.Helper()
	b := &Buffer{}
	b.PrintOnFailure(t, name)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level})), b
}

// PrintOnFailure prints the Buffer as "<name>:" when t ends, if it failed.
func (b *Buffer) PrintOnFailure(t testing.TB, name string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s:\n%s", name, b.String())
		}
	})
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Contains reports whether s has been written (within one write or across
// several).
func (b *Buffer) Contains(s string) bool {
	return strings.Contains(b.String(), s)
}

// Line returns the first line that contains every one of parts, and whether
// there is one.
func (b *Buffer) Line(parts ...string) (string, bool) {
lines:
	for _, line := range strings.Split(b.String(), "\n") {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue lines
			}
		}
		return line, true
	}
	return "", false
}

// WaitForLine waits until one line contains every one of parts, and returns
// it; it fails the test after WaitLimit.
func (b *Buffer) WaitForLine(t testing.TB, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if line, ok := b.Line(parts...); ok {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q within %v", parts, WaitLimit)
		}
		<-tick.C
	}
}
