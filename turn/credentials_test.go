package turn

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// The passwords below were computed outside Go, with
// printf '%s' USERNAME | openssl dgst -sha1 -hmac tandem-secret -binary | base64
func TestCredentialsMatchOpenSSLVectors(t *testing.T) {
	cases := []struct {
		userID       string
		expiry       int64
		wantUsername string
		wantPassword string
	}{
		{"alice", 1700000000, "1700000000:alice", "X+8RW6hEN5Vex2VVo+Op3AxTss4="},
		{"3f0e8a5c-9d1e-4b7a-8c3e-2a9f1b6d4e70", 4102444800,
			"4102444800:3f0e8a5c-9d1e-4b7a-8c3e-2a9f1b6d4e70", "XWf2mQXiaLHilPQa2MyehnlwFMU="},
		{"user:with:colons", 1700000000, "1700000000:user:with:colons", "ehaoIo7P+p3pbKF5vBLw4xzjwsc="},
	}
	for _, tc := range cases {
		user, pass := Credentials("tandem-secret", tc.userID, time.Unix(tc.expiry, 0))
		if user != tc.wantUsername || pass != tc.wantPassword {
			t.Errorf("Credentials(%q, %d) = %q, %q; want %q, %q",
				tc.userID, tc.expiry, user, pass, tc.wantUsername, tc.wantPassword)
		}
	}
}

func TestAuthHandler(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newLedger(time.Minute)
	l.issue("alice")
	l.issue("a:b")
	handler := newAuthHandler("s3cret", func() time.Time { return now }, l, &meters{})
	stranger, _ := Credentials("s3cret", "mallory", now.Add(time.Minute))
	valid, validPass := Credentials("s3cret", "alice", now.Add(time.Minute))
	colon, colonPass := Credentials("s3cret", "a:b", now.Add(time.Minute))
	expired, _ := Credentials("s3cret", "alice", now)

	cases := []struct {
		name     string
		username string
		wantOK   bool
		wantUser string
		wantPass string
	}{
		{"valid", valid, true, "alice", validPass},
		{"user id with colons", colon, true, "a:b", colonPass},
		{"expires now", expired, false, "", ""},
		{"user never handed credentials", stranger, false, "", ""},
		{"no separator", "1800000060", false, "", ""},
		{"empty user id", "1800000060:", false, "", ""},
		{"expiry not a number", "soon:alice", false, "", ""},
		{"empty", "", false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			user, key, ok := handler(&pionturn.RequestAttributes{Username: tc.username, Realm: "tandem"})
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if user != tc.wantUser {
				t.Errorf("user id = %q, want %q", user, tc.wantUser)
			}
			// The long-term key of RFC 5389: MD5(username:realm:password).
			want := pionturn.GenerateAuthKey(tc.username, "tandem", tc.wantPass)
			if string(key) != string(want) {
				t.Errorf("key = %x, want %x", key, want)
			}
		})
	}
}

func TestICEServers(t *testing.T) {
	tlsCfg := testTLSConfig(t)
	s := newTestServer(t, Config{TLSAddr: "127.0.0.1:0", TLSConfig: tlsCfg, CredentialTTL: time.Hour})
	udpPort, tcpPort, tlsPort := s.udpAddr.Port, s.tcpAddr.Port, s.tlsAddr.Port

	got := s.ICEServers("alice", "chat.example:3000")
	if len(got) != 1 {
		t.Fatalf("ICEServers = %+v, want one entry", got)
	}
	want := []string{
		"turn:chat.example:" + itoa(udpPort) + "?transport=udp",
		"turn:chat.example:" + itoa(tcpPort) + "?transport=tcp",
		"turns:chat.example:" + itoa(tlsPort) + "?transport=tcp",
	}
	if strings.Join(got[0].URLs, " ") != strings.Join(want, " ") {
		t.Errorf("URLs = %q, want %q", got[0].URLs, want)
	}
	expiry, userID, err := parseRESTUsername(got[0].Username)
	if err != nil || userID != "alice" {
		t.Fatalf("username %q: user %q, err %v", got[0].Username, userID, err)
	}
	if d := time.Until(expiry); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("credential expires in %v, want about the 1h TTL", d)
	}
	if got[0].Credential != restPassword(testSecret, got[0].Username) {
		t.Errorf("credential does not match the username")
	}

	v6 := s.ICEServers("bob", "[::1]:3000")[0].URLs[0]
	if v6 != "turn:[::1]:"+itoa(udpPort)+"?transport=udp" {
		t.Errorf("IPv6 host URL = %q", v6)
	}
	if s.ICEServers("", "chat.example") != nil {
		t.Errorf("ICEServers for an empty user id is not nil")
	}

	b, err := json.Marshal(got)
	if err != nil || !strings.Contains(string(b), `"urls":[`) || !strings.Contains(string(b), `"credential":"`) {
		t.Errorf("JSON form %s (err %v) lacks urls or credential", b, err)
	}
}

func TestICEServersPublicIPAndExternal(t *testing.T) {
	s := newTestServer(t, Config{PublicIP: "203.0.113.9", TLSAddr: "127.0.0.1:0", TLSConfig: testTLSConfig(t)})
	urls := s.ICEServers("alice", "chat.example")[0].URLs
	if !strings.HasPrefix(urls[0], "turn:203.0.113.9:") || !strings.HasPrefix(urls[1], "turn:203.0.113.9:") {
		t.Errorf("URLs %q do not use the public IP", urls)
	}
	if !strings.HasPrefix(urls[2], "turns:chat.example:") {
		t.Errorf("TLS URL %q should name the host the certificate is for", urls[2])
	}

	ext, err := New(Config{Secret: "shared", ExternalURLs: []string{"turn:turn.example:3478?transport=udp"}}, nil)
	if err != nil {
		t.Fatalf("New without embedded server: %v", err)
	}
	defer ext.Close()
	got := ext.ICEServers("alice", "chat.example")
	if len(got) != 1 || len(got[0].URLs) != 1 || got[0].URLs[0] != "turn:turn.example:3478?transport=udp" {
		t.Fatalf("external ICEServers = %+v", got)
	}
	if got[0].Credential != restPassword("shared", got[0].Username) {
		t.Errorf("external credential not made with the shared secret")
	}

	off, err := New(Config{}, nil)
	if err != nil {
		t.Fatalf("New with TURN off: %v", err)
	}
	if off.ICEServers("alice", "chat.example") != nil || off.Stats() != (Stats{}) || off.Close() != nil {
		t.Errorf("a switched-off server should list no servers, count nothing, close cleanly")
	}
	var nilServer *Server
	if nilServer.ICEServers("alice", "x") != nil || nilServer.Stats() != (Stats{}) || nilServer.Close() != nil {
		t.Errorf("nil *Server is not inert")
	}
}

func TestRandomSecretWhenUnset(t *testing.T) {
	a, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.secret) < 40 || a.secret == b.secret {
		t.Errorf("random secrets %q and %q: want two different long secrets", a.secret, b.secret)
	}
}

func itoa(port int) string { return strconv.Itoa(port) }
