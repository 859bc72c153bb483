package access

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestAudienceAndIssuerAreRequiredWhenConfigured checks that a guard with
// JWTAudience and JWTIssuer refuses tokens without them or with other
// values, naming the claim, and admits tokens that carry both.
func TestAudienceAndIssuerAreRequiredWhenConfigured(t *testing.T) {
	g := newGuard(t, Config{JWTSecret: secret, JWTAudience: "tandem", JWTIssuer: "https://site.example"})
	url, admitted := guarded(t, g, nil)
	hour := time.Now().Add(time.Hour).Unix()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "exp": hour}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	cases := []struct {
		name   string
		claims jwt.MapClaims
		reason string
	}{
		{"no aud", claims(jwt.MapClaims{"iss": "https://site.example"}), `no aud claim; this server requires aud "tandem"`},
		{"wrong aud", claims(jwt.MapClaims{"aud": "other", "iss": "https://site.example"}), `another audience (aud "other")`},
		{"wrong aud list", claims(jwt.MapClaims{"aud": []string{"a", "b"}, "iss": "https://site.example"}), `another audience (aud "a,b")`},
		{"no iss", claims(jwt.MapClaims{"aud": "tandem"}), `no iss claim; this server requires iss "https://site.example"`},
		{"wrong iss", claims(jwt.MapClaims{"aud": "tandem", "iss": "https://evil.example"}), `another issuer (iss "https://evil.example")`},
	}
	for _, c := range cases {
		tok := sign(t, secret, jwt.SigningMethodHS256, c.claims)
		code, errCode, msg, _ := get(t, url+"/ws?token="+tok, nil)
		if code != http.StatusUnauthorized || errCode != "unauthorized" || !strings.Contains(msg, c.reason) {
			t.Errorf("%s: %d %s %q, want 401 unauthorized mentioning %q", c.name, code, errCode, msg, c.reason)
		}
	}
	if got := g.Stats().Unauthorized; got != uint64(len(cases)) {
		t.Errorf("Unauthorized = %d, want %d", got, len(cases))
	}

	for _, aud := range []any{"tandem", []string{"other", "tandem"}} {
		tok := sign(t, secret, jwt.SigningMethodHS256, claims(jwt.MapClaims{"aud": aud, "iss": "https://site.example"}))
		if code, _, msg, _ := get(t, url+"/ws?token="+tok, nil); code != http.StatusOK {
			t.Fatalf("aud %v with the right iss: %d %s", aud, code, msg)
		}
		if s := <-admitted; s.subject != "alice" {
			t.Fatalf("admitted subject %q, want alice", s.subject)
		}
	}
}

// TestAudienceAndIssuerAreIgnoredWhenNotConfigured checks that, without
// JWTAudience and JWTIssuer, tokens with any aud and iss are admitted.
func TestAudienceAndIssuerAreIgnoredWhenNotConfigured(t *testing.T) {
	g := newGuard(t, Config{JWTSecret: secret})
	url, admitted := guarded(t, g, nil)
	tok := sign(t, secret, jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bob", "exp": time.Now().Add(time.Hour).Unix(), "aud": "anything", "iss": "anyone",
	})
	if code, _, msg, _ := get(t, url+"/ws?token="+tok, nil); code != http.StatusOK {
		t.Fatalf("token with aud and iss, none required: %d %s", code, msg)
	}
	if s := <-admitted; s.subject != "bob" {
		t.Fatalf("admitted subject %q, want bob", s.subject)
	}
}
