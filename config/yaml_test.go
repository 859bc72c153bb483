package config

import (
	"strings"
	"testing"
	"time"
)

// TestYAMLErrorsNameTheKeyAndLine loads files with one mistake each and checks
// the error gives the file, the key's full path and the line of the mistake.
func TestYAMLErrorsNameTheKeyAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"bad port range", "media:\n  udp_ports: \"abc\"\n",
			[]string{"line 2: media.udp_ports: ", `port range "abc"`}},
		{"bad port range further down", "# tandem\nhttp:\n  addr: \":3000\"\n\nmedia:\n  public_ip: \"\"\n  udp_ports: abc\n",
			[]string{"line 7: media.udp_ports: "}},
		{"text for a number", "signaling:\n  send_queue: 16\n  chat_messages: lots\n",
			[]string{"line 3: signaling.chat_messages: ", "`lots`"}},
		{"bad duration", "http:\n  shutdown_grace: 5x\n",
			[]string{"line 2: http.shutdown_grace: ", "`5x`"}},
		{"list for a string", "log:\n  level: [info, debug]\n",
			[]string{"line 2: log.level: "}},
		{"value for a section", "turn:\n  addr: \":3478\"\nmedia: 3\n",
			[]string{"line 3: media: ", `"3"`}},
		{"unknown key", "http:\n  addres: \":1\"\n",
			[]string{"line 2: unknown key http.addres; did you mean http.addr?"}},
		{"unknown key, nothing near", "log:\n  format: text\n  colour: true\n",
			[]string{"line 3: unknown key log.colour"}},
		{"unknown section", "\nmeda:\n  udp_ports: 1-2\n",
			[]string{"line 2: unknown key meda; did you mean media?"}},
		{"key set twice", "turn:\n  secret: a\n  addr: \"\"\n  secret: b\n",
			[]string{"line 4: turn.secret: set again (first at line 2)"}},
		{"merge of itself", "http: &h\n  addr: \":1\"\n  <<: *h\n", []string{"line 1: http: a merge key includes the section itself"}},
		{"syntax", "http:\n  addr: \":1\"\n adress: x\n", []string{"line "}},
	} {
		p := writeFile(t, tc.body)
		_, err := Load(p, envMap(nil))
		if err == nil {
			t.Errorf("%s: loaded without error", tc.name)
			continue
		}
		for _, want := range append(tc.want, p) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, want)
			}
		}
	}
}

// TestYAMLDecodingKeepsDefaultsAndFollowsAnchors checks what the strict
// decoder must still accept: empty files and sections, anchors and merge
// keys, and keys absent from the file keeping their defaults.
func TestYAMLDecodingKeepsDefaultsAndFollowsAnchors(t *testing.T) {
	for _, body := range []string{"", "# only a comment\n", "media:\n"} {
		cfg, err := Load(writeFile(t, body), envMap(nil))
		if err != nil || cfg.Media.UDPPorts != Default().Media.UDPPorts {
			t.Errorf("%q: %v, udp_ports %v", body, err, cfg.Media.UDPPorts)
		}
	}
	body := `signaling: &t
  read_timeout: 70s
  write_timeout: 8s
http:
  read_timeout: 90s
  <<: [*t]
`
	cfg, err := Load(writeFile(t, body), envMap(nil))
	if err != nil {
		t.Fatalf("anchors and merge keys: %v\n%s", err, body)
	}
	s, h := cfg.Signaling, cfg.HTTP
	if s.ReadTimeout != 70*time.Second || s.WriteTimeout != 8*time.Second ||
		h.ReadTimeout != 90*time.Second || h.WriteTimeout != 8*time.Second {
		t.Errorf("signaling %v %v, http %v %v", s.ReadTimeout, s.WriteTimeout, h.ReadTimeout, h.WriteTimeout)
	}
	if s.ChatMessages != Default().Signaling.ChatMessages || h.Addr != Default().HTTP.Addr {
		t.Error("keys absent from the file lost their defaults")
	}
}
