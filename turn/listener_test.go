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

func TestSilentClientsAreDroppedTalkingOnesKept(t *testing.T) {
	s := newTestServer(t, Config{AllowLoopback: true})
	for _, ln := range s.pionListeners() {
		ln.greet.Store(int64(300 * time.Millisecond))
	}
	// Connect the talking client first: it was given the short deadline
	// before the silent one.
	talker, err := net.Dial("tcp4", s.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	user, pass := validCredentials(s, "talker")
	client := dialTURNOver(t, talker, s.tcpAddr.String(), user, pass)
	relay, err := client.Allocate() // the client speaks at once
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relay.Close()

	silent, err := net.Dial("tcp4", s.tcpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("silent client got data")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("silent client still connected after 20 s")
	}

	// The talking client, connected earlier, still relays.
	peer := echoPeer(t, "127.0.0.1:0")
	if err := roundTrip(t, relay, peer.LocalAddr(), []byte("still here")); err != nil {
		t.Fatalf("talking client lost its connection: %v", err)
	}
}

// pionListeners returns the server's TCP and TLS client listeners.
func (s *Server) pionListeners() []*trackingListener { return s.tracked }
