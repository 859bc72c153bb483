package deploytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemchat/tandem/internal/livetest"
	"github.com/tandemchat/tandem/internal/redistest"
	"github.com/tandemchat/tandem/internal/testlog"
	"github.com/tandemchat/tandem/sfu/synth"
)

// adminToken is the operator's admin token the test gives every instance.
const adminToken = "deploy-test-admin-token"

// TestTheComposeDeploymentIsOneCrowdBehindNginx starts what
// deploy/compose.yaml starts, behind deploy/nginx-cluster.conf, and has six
// users come in through nginx: nginx spreads their WebSockets over the three
// instances, and each pair meets, exchanges media (bridged between
// instances where it must) and chats; the API through nginx answers for the
// whole cluster. Then one instance is drained through nginx: its calls go
// on, and every newcomer lands on the other two and meets someone.
func TestTheComposeDeploymentIsOneCrowdBehindNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx, err = exec.LookPath("/usr/sbin/nginx") // not on a user's PATH
	}
	if err != nil {
		t.Skipf("nginx not installed (apt-get install nginx): %v", err)
	}
	r := redistest.Start(t)
	services, err := ReadCompose("../../deploy/compose.yaml", map[string]string{
		"TANDEM_CLUSTER_SECRET": strings.Repeat("cd", 32), "TANDEM_PUBLIC_IP": "127.0.0.1",
	})
	if err != nil {
		t.Fatal(err)
	}
	bin := livetest.BuildTandem(t)
	upstreams := map[string]string{} // the compose file's HTTP address -> the test's
	for _, name := range tandemServices(services) {
		env := services[name].Environment
		upstreams[env["TANDEM_HTTP_ADDR"]] = startInstance(t, bin, name, onLoopback(t, env, r.Addr))
	}
	front := startNginx(t, nginx, "../../deploy/nginx-cluster.conf", upstreams)

	waitInstances(t, front, 3)
	users := make([]*livetest.MediaUser, 6)
	for i := range users {
		users[i] = livetest.NewMediaUserAt(t, "ws://"+front+"/ws", synth.Options{
			Source: uint32(i + 1), Send: true, Record: true, VideoBitrate: 200_000, FPS: 15,
		})
		users[i].Offer(t)
	}
	for i := 0; i < len(users); i += 2 {
		meet(t, users[i], users[i+1])
	}

	rooms := waitRooms(t, front, 3)
	holding, across := map[string]bool{}, 0
	for _, room := range rooms {
		if room[0] != room[1] {
			across++
		}
		holding[room[0]], holding[room[1]] = true, true
	}
	if len(holding) != 3 || across == 0 {
		t.Fatalf("through nginx: users on %d instances, %d rooms across two; want 3, at least 1: %v", len(holding), across, rooms)
	}

	drained := rooms[0][0]
	before := roomsOn(rooms, drained)
	drain := "http://" + front + "/api/admin/drain?instance=" + drained
	if code, body := post(t, drain); code != http.StatusOK && code != http.StatusAccepted {
		t.Fatalf("drain %s through nginx: %d %s", drained, code, body)
	}
	waitDraining(t, front, drained) // 202: another instance passed the drain on
	newcomers := make([]*livetest.MediaUser, 4)
	for i := range newcomers {
		newcomers[i] = livetest.NewMediaUserAt(t, "ws://"+front+"/ws", synth.Options{
			Source: uint32(10 + i), Send: true, Record: true, VideoBitrate: 200_000, FPS: 15,
		})
		newcomers[i].Offer(t)
	}
	for i := 0; i < len(newcomers); i += 2 {
		meet(t, newcomers[i], newcomers[i+1])
	}
	rooms = waitRooms(t, front, 5)
	if after := roomsOn(rooms, drained); after != before {
		t.Fatalf("after draining %s: %d rooms with a user there, want the %d it had: %v", drained, after, before, rooms)
	}
}

// roomsOn counts the rooms with a participant on instance.
func roomsOn(rooms [][2]string, instance string) int {
	n := 0
	for _, room := range rooms {
		if room[0] == instance || room[1] == instance {
			n++
		}
	}
	return n
}

// waitDraining waits until the cluster behind front shows instance draining.
func waitDraining(t *testing.T, front, instance string) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		var stats struct {
			Instances []struct {
				Instance string
				Draining bool
			}
		}
		getJSON(t, "http://"+front+"/api/stats", &stats)
		for _, in := range stats.Instances {
			if in.Instance == instance && in.Draining {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not draining after %v: %+v", instance, livetest.WaitFor, stats)
		}
		time.Sleep(50 * time.Millisecond) // polling figures published every second
	}
}

// waitRooms waits until the cluster behind front lists n rooms whose two
// participants are both published (each instance publishes its half every
// second), and returns each as the instances of its participants.
func waitRooms(t *testing.T, front string, n int) [][2]string {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		var list struct {
			Rooms []struct {
				Participants []struct{ Instance string }
			}
		}
		getJSON(t, "http://"+front+"/api/rooms", &list)
		var out [][2]string
		for _, room := range list.Rooms {
			if len(room.Participants) == 2 {
				out = append(out, [2]string{room.Participants[0].Instance, room.Participants[1].Instance})
			}
		}
		if len(out) == n && len(list.Rooms) == n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rooms behind nginx after %v, want %d: %+v", len(list.Rooms), livetest.WaitFor, n, list)
		}
		time.Sleep(50 * time.Millisecond) // polling figures published every second
	}
}

// post sends an admin POST to url and returns the status and body.
func post(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// tandemServices lists the compose file's tandem instances, by name.
func tandemServices(services map[string]Service) []string {
	var names []string
	for name := range services {
		if strings.HasPrefix(name, "tandem") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// onLoopback is a service's environment with its ports moved to free ones
// of 127.0.0.1 and Redis at redisAddr; media on loopback only, the data
// directories the image's (Dockerfile) in a directory of the test's, and an
// admin token. A port
// setting the test does not know fails the test rather than take a fixed
// port.
func onLoopback(t *testing.T, env map[string]string, redisAddr string) []string {
	t.Helper()
	out := []string{
		"TANDEM_ADMIN_TOKEN=" + adminToken, // an operator's, for the drain
		"TANDEM_ICE_IPS=127.0.0.1",
		"TANDEM_DATA_DIR=" + t.TempDir(),
		"TANDEM_ACME_CACHE_DIR=" + t.TempDir(),
	}
	for k, v := range env {
		switch k {
		case "TANDEM_HTTP_ADDR":
			v = "127.0.0.1:" + strconv.Itoa(freePort(t))
		case "TANDEM_UDP_MUX_PORT":
			v = strconv.Itoa(freePort(t))
		case "TANDEM_TURN_ADDR", "TANDEM_CLUSTER_ADDR":
			v = "127.0.0.1:" + strconv.Itoa(freePort(t))
		case "TANDEM_REDIS_URL":
			v = regexp.MustCompile(`//[^/]+/`).ReplaceAllString(v, "//"+redisAddr+"/")
		default:
			if strings.Contains(k, "ADDR") || strings.Contains(k, "PORT") {
				t.Fatalf("the compose file sets %s=%s, which this test does not move to a free port", k, v)
			}
		}
		out = append(out, k+"="+v)
	}
	return out
}

// freePort returns a port of 127.0.0.1 that was free a moment ago for both
// UDP and TCP (TURN takes both on its port).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port of 127.0.0.1 free for both UDP and TCP")
	return 0
}

// startInstance runs bin with env (and nothing else of the test's
// environment but PATH) until the test ends, and returns its HTTP address.
func startInstance(t *testing.T, bin, name string, env []string) string {
	t.Helper()
	addr := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "TANDEM_HTTP_ADDR="); ok {
			addr = v
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	started := run(t, name, cmd, "tandem is running")
	select {
	case <-started:
	case <-time.After(livetest.WaitFor):
		t.Fatalf("%s did not start within %v", name, livetest.WaitFor)
	}
	return addr
}

// run starts cmd, keeping its output for the test's log, and stops it
// (SIGTERM, then SIGKILL after 20 s) when the test ends. The channel closes
// when a line of its output contains ready.
func run(t *testing.T, name string, cmd *exec.Cmd, ready string) <-chan struct{} {
	t.Helper()
	logs := &testlog.Buffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	seen := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		told := false
		lines := bufio.NewScanner(pr)
		for lines.Scan() {
			logs.Write([]byte(lines.Text() + "\n"))
			if !told && strings.Contains(lines.Text(), ready) {
				close(seen)
				told = true
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		stopped := make(chan struct{})
		go func() { _ = cmd.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-stopped
		}
		pw.Close()
		<-read
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs)
		}
	})
	return seen
}

// startNginx runs nginx with the site configuration at site, its upstream
// servers moved as upstreams says and its listener to a free port of
// 127.0.0.1, and returns that address once nginx answers there.
func startNginx(t *testing.T, nginx, site string, upstreams map[string]string) string {
	t.Helper()
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(data)
	for from, to := range upstreams {
		if !strings.Contains(conf, "server "+from+";") {
			t.Fatalf("%s has no upstream server %s", site, from)
		}
		conf = strings.ReplaceAll(conf, "server "+from+";", "server "+to+";")
	}
	listen := regexp.MustCompile(`listen\s+\d+;`)
	if n := len(listen.FindAllString(conf, -1)); n != 1 {
		t.Fatalf("%s has %d listen lines, want 1", site, n)
	}
	front := "127.0.0.1:" + strconv.Itoa(freePort(t))
	conf = listen.ReplaceAllString(conf, "listen "+front+";")

	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers read nothing of nobody's
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[2]s/site.conf;
}
`, user, dir)
	for file, text := range map[string]string{"nginx.conf": main, "site.conf": conf} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(nginx, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	run(t, "nginx", cmd, "")
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		resp, err := http.Get("http://" + front + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return front
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx on %s did not answer within %v: %v\n%s", front, livetest.WaitFor, err, log)
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is starting
	}
}

// getJSON decodes the answer of a GET of url into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

// waitInstances waits until the cluster behind front counts n instances
// (each publishes its figures every second).
func waitInstances(t *testing.T, front string, n int) {
	t.Helper()
	deadline := time.Now().Add(livetest.WaitFor)
	for {
		var stats struct{ ClusterTotal struct{ Instances int } }
		getJSON(t, "http://"+front+"/api/stats", &stats)
		if stats.ClusterTotal.Instances == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d instances behind nginx after %v, want %d", stats.ClusterTotal.Instances, livetest.WaitFor, n)
		}
		time.Sleep(50 * time.Millisecond) // polling figures published every second
	}
}

// meet pairs a and b (a waits first), and waits until each gets the other's
// media and a chat line from the other.
func meet(t *testing.T, a, b *livetest.MediaUser) {
	t.Helper()
	a.WaitConnected(t)
	b.WaitConnected(t)
	a.WS.Send("find_partner", nil)
	a.WaitFor(t, "waiting_for_partner")
	b.WS.Send("find_partner", nil)
	b.WaitFor(t, "partner_found")
	a.WaitFor(t, "partner_found")
	b.WaitPackets(t, a.Media.Source(), 30)
	a.WaitPackets(t, b.Media.Source(), 30)
	a.WS.Send("chat_message", map[string]string{"text": "hello"})
	var chat struct{ Text string }
	b.WaitFor(t, "chat_message").Decode(t, &chat)
	if chat.Text != "hello" {
		t.Fatalf("chat %q, want hello", chat.Text)
	}
}
