package testlog

import (
	"fmt"
	"sync"
	"testing"
)

func TestBufferFindsLinesWrittenConcurrently(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(&b, "level=INFO msg=hello worker=%d\n", i)
		}()
	}
	got := b.WaitForLine(t, "msg=hello", "worker=5")
	if got != "level=INFO msg=hello worker=5" {
		t.Errorf("WaitForLine = %q, want the line of worker 5", got)
	}
	wg.Wait()
	if _, ok := b.Line("msg=hello", "worker=9"); ok {
		t.Error("Line found a line nobody wrote")
	}
	if !b.Contains("worker=7\n") || b.Contains("worker=8") {
		t.Errorf("Contains disagrees with what was written:\n%s", b.String())
	}
}

func TestNewLoggerWritesIntoTheBuffer(t *testing.T) {
	log, b := NewLogger(t, "test log", -4)
	log.Debug("visible at debug", "k", "v")
	if _, ok := b.Line("level=DEBUG", `msg="visible at debug"`, "k=v"); !ok {
		t.Errorf("buffer lacks the debug line:\n%s", b.String())
	}
}
