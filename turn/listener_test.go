package turn

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"
)

// flakyListener fails its first Accepts with EMFILE, as a listener does
// when the process is out of file descriptors.
type flakyListener struct {
	net.Listener
	failures int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures > 0 {
		l.failures--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

func TestTrackingListenerRidesOutAcceptErrors(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newTrackingListener(&flakyListener{Listener: raw, failures: 3}, slog.New(slog.DiscardHandler))
	defer ln.Close()

	client, err := net.Dial("tcp4", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept after three EMFILE errors: %v", err)
	}

	// Close ends the accepted connection too.
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := conn.Write([]byte("x")); err == nil {
		t.Errorf("write on a connection of a closed listener succeeded")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
	}
}

func TestTrackingListenerCloseInterruptsBackoff(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newTrackingListener(&flakyListener{Listener: raw, failures: 1 << 30}, slog.New(slog.DiscardHandler))
	result := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		result <- err
	}()
	_ = ln.Close()
	select {
	case err := <-result:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still retrying 10 s after Close")
	}
}
