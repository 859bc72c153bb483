package server_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/server"
)

// childEnv marks the test process that TestClusterInstanceKilled starts as
// an instance it can kill.
const childEnv = "TANDEM_TEST_CLUSTER_CHILD"

// TestClusterChildInstance is the instance TestClusterInstanceKilled kills:
// it runs only in the child process that test starts (configured by its
// TANDEM_* environment), prints its URL and serves until killed.
func TestClusterChildInstance(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("the child process of TestClusterInstanceKilled")
	}
	cfg, err := config.Load("", os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(context.Background(), cfg, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("CHILD_URL=%s\n", srv.URL())
	<-make(chan struct{}) // serve until killed
}

// startChildInstance starts an instance of the cluster on r in a process of
// its own, and returns its /ws URL and the process.
func startChildInstance(t *testing.T, r *redistest.Server) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestClusterChildInstance$")
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"TANDEM_REDIS_URL=redis://"+r.Addr, "TANDEM_CLUSTER_SECRET="+clusterSecret,
		"TANDEM_CLUSTER_ADDR="+freeUDPAddr(t), "TANDEM_HTTP_ADDR=127.0.0.1:0", "TANDEM_TURN_ADDR=",
		"TANDEM_ICE_IPS=127.0.0.1", "TANDEM_DATA_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the child instance: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "CHILD_URL="); ok {
				found <- u
			}
		}
	}()
	select {
	case u := <-found:
		return "ws" + strings.TrimPrefix(u, "http") + "/ws", cmd
	case <-time.After(2 * livetest.WaitFor):
		t.Fatal("the child instance did not start")
	}
	return "", nil
}

func TestClusterInstanceKilled(t *testing.T) {
	r := redistest.Start(t)
	a := startInstance(t, r)
	childURL, child := startChildInstance(t, r)

	x, y := livetest.MustDial(t, childURL), livetest.MustDial(t, a.WSURL)
	pairUp(t, x, y)
	z := livetest.MustDial(t, childURL)
	z.Send("find_partner", nil)
	z.Expect("waiting_for_partner")
	if n := queueLen(t, r); n != 1 {
		t.Fatalf("%d waiting in the shared queue, want the child's one", n)
	}

	if err := child.Process.Kill(); err != nil { // SIGKILL: nothing is cleaned up by the dying instance
		t.Fatal(err)
	}
	killed := time.Now()
	expectLeft(t, y, "disconnect")
	if d := time.Since(killed); d > 10*time.Second {
		t.Fatalf("the partner was told %v after the kill, want within 10s", d)
	}
	for queueLen(t, r) != 0 {
		if time.Since(killed) > 10*time.Second {
			t.Fatal("the killed instance's waiting user is still in the shared queue after 10s")
		}
		time.Sleep(20 * time.Millisecond) // polling Redis, with a deadline
	}
	// The survivor goes on: its users are paired as before.
	w := livetest.MustDial(t, a.WSURL)
	pairUp(t, y, w)
}
