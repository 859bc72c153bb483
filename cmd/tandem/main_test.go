package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemchat/tandem/internal/livetest"
)

func TestHelpListsFlagsAndEnvironment(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-h"}, &out, &errs); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	for _, want := range []string{"-config", "-print-config", "TANDEM_HTTP_ADDR", "TANDEM_TURN_SECRET"} {
		if !strings.Contains(errs.String(), want) {
			t.Errorf("help does not mention %s:\n%s", want, errs.String())
		}
	}
}

func TestVersionFlagPrintsTheBuildAndExits(t *testing.T) {
	t.Setenv("TANDEM_UDP_PORTS", "banana") // -version reads no configuration
	var out, errs bytes.Buffer
	if code := run([]string{"-version"}, &out, &errs); code != 0 {
		t.Fatalf("-version exited %d: %s", code, errs.String())
	}
	got := strings.TrimSpace(out.String())
	if !strings.HasPrefix(got, "tandem ") || !strings.HasSuffix(got, runtime.Version()) || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("-version printed %q, want one line \"tandem VERSION ... %s\"", out.String(), runtime.Version())
	}
}

func TestDescribeBuildPrefersTheLinkedVersionAndListsVCSFacts(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "475ea33943542f9ecfd0ec9269d9a273381d1ff1"},
		{Key: "vcs.time", Value: "2026-12-05T08:11:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"", nil, "tandem devel " + runtime.Version()},
		{"v1.2.0", nil, "tandem v1.2.0 " + runtime.Version()},
		{"", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}}, "tandem devel go1.26.1"},
		{"", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.3.0"}}, "tandem v1.3.0 go1.26.1"},
		{"v1.4.0-rc1", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.3.0"}, Settings: vcs},
			"tandem v1.4.0-rc1 (revision 475ea33943542f9ecfd0ec9269d9a273381d1ff1, committed 2026-12-05T08:11:00Z, with local changes) go1.26.1"},
		{"", &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.0.0-20261205081100-475ea3394354"}, Settings: vcs[:4]},
			"tandem v0.0.0-20261205081100-475ea3394354 (revision 475ea33943542f9ecfd0ec9269d9a273381d1ff1, committed 2026-12-05T08:11:00Z) go1.26.1"},
	} {
		if got := describeBuild(tc.stamped, tc.info); got != tc.want {
			t.Errorf("describeBuild(%q, ...) = %q, want %q", tc.stamped, got, tc.want)
		}
	}
}

func TestPrintConfigShowsEffectiveSettingsWithoutSecrets(t *testing.T) {
	t.Setenv("TANDEM_HTTP_ADDR", "127.0.0.1:4321")
	t.Setenv("TANDEM_TURN_SECRET", "do-not-print")
	t.Setenv("TANDEM_HTTP_ADR", "127.0.0.1:1") // misspelled: ignored, with a warning
	var out, errs bytes.Buffer
	if code := run([]string{"-print-config"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "addr: 127.0.0.1:4321") {
		t.Fatalf("environment override not shown:\n%s", out.String())
	}
	if strings.Contains(out.String(), "do-not-print") {
		t.Fatal("the TURN secret was printed")
	}
	if !strings.Contains(errs.String(), "warning: TANDEM_HTTP_ADR is not a tandem setting; did you mean TANDEM_HTTP_ADDR?") {
		t.Errorf("no warning for the misspelled TANDEM_HTTP_ADR:\n%s", errs.String())
	}
}

func TestBadConfigurationExitsWithItsName(t *testing.T) {
	t.Setenv("TANDEM_UDP_PORTS", "banana")
	var out, errs bytes.Buffer
	if code := run(nil, &out, &errs); code != 1 || !strings.Contains(errs.String(), "TANDEM_UDP_PORTS") {
		t.Fatalf("exit %d, stderr %q", code, errs.String())
	}
}

// TestBinaryPairsChatsAndDrainsOnSIGTERM builds the real binary, runs it as
// `make run` would (defaults, here kept on loopback), talks to it with two
// plain WebSocket clients, and stops it with SIGTERM.
func TestBinaryPairsChatsAndDrainsOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tandem")
	const stamped = "v0.0.0-binarytest"
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+stamped, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "-version").Output(); err != nil || !strings.HasPrefix(string(out), "tandem "+stamped+" ") {
		t.Errorf("-version of a binary linked with version %s: %q, %v", stamped, out, err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"TANDEM_HTTP_ADDR=127.0.0.1:0",
		"TANDEM_ICE_IPS=127.0.0.1",
		"TANDEM_TURN_ADDR=127.0.0.1:0",
		"TANDEM_SHUTDOWN_GRACE=30s",
		"TANDEM_SHUTDOWN_GRAC=1s", // misspelled: ignored, with a warning
		"TANDEM_DATA_DIR="+t.TempDir(),
	)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	base := readURL(t, stdout)
	ws := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	checkWelcome(t, ws)
	a, b := livetest.MustDial(t, ws), livetest.MustDial(t, ws) // each read its welcome

	a.Send("find_partner", nil)
	a.Expect("waiting_for_partner")
	b.Send("find_partner", nil)
	b.Expect("partner_found")
	a.Expect("partner_found")
	a.Send("chat_message", map[string]string{"text": "hi from a"})
	b.Expect("chat_message")
	b.Send("next_partner", nil)
	a.Expect("partner_left")
	b.Expect("waiting_for_partner")
	a.Send("find_partner", nil)
	a.Expect("partner_found") // nobody else waits: the two meet again
	b.Expect("partner_found")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	if _, resp, err := livetest.Dial(t, ws, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a new WebSocket while draining: %v, %v; want 503", err, resp)
	}

	// The pair may talk on during the grace period; then it is ended.
	a.Send("leave", nil)
	b.Expect("partner_left")
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), `msg="tandem starting" version="tandem `+stamped+" ") {
			t.Errorf("the start-up log does not give the version %s:\n%s", stamped, stderr.String())
		}
		if !strings.Contains(stderr.String(), "level=WARN msg=\"TANDEM_SHUTDOWN_GRAC is not a tandem setting; did you mean TANDEM_SHUTDOWN_GRACE?") {
			t.Errorf("the start-up log does not warn about TANDEM_SHUTDOWN_GRAC:\n%s", stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20 s after SIGTERM with no pair left\n%s", stderr.String())
	}
}

// checkWelcome dials /ws and checks that welcome lists the built-in TURN
// server on the host the client used.
func checkWelcome(t *testing.T, ws string) {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var welcome struct {
		Type string `json:"type"`
		Data struct {
			UserID     string `json:"userId"`
			ICEServers []struct {
				URLs     []string `json:"urls"`
				Username string   `json:"username"`
			} `json:"iceServers"`
		} `json:"data"`
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := conn.ReadJSON(&welcome); err != nil || welcome.Type != "welcome" {
		t.Fatalf("first message %+v, %v", welcome, err)
	}
	ice := welcome.Data.ICEServers
	if len(ice) == 0 || !strings.HasPrefix(ice[0].URLs[0], "turn:127.0.0.1:") ||
		!strings.HasSuffix(ice[0].Username, ":"+welcome.Data.UserID) {
		t.Fatalf("welcome lists no TURN server for this user on the host used: %+v", welcome.Data)
	}
}

// readURL reads the start-up line and returns the URL it names.
func readURL(t *testing.T, stdout io.Reader) string {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := regexp.MustCompile(`http://\S+`).FindString(sc.Text()); m != "" {
				lines <- m
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-lines:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("the binary printed no URL")
	}
	return ""
}

// waitStatus polls url until it answers want.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			var body json.RawMessage
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %d (last: %v)", url, want, fmt.Sprint(err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
