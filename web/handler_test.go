package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// get performs one request against a real loopback server and returns the
// response with its body read.
func get(t *testing.T, srv *httptest.Server, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", method, path, err)
	}
	return res, string(body)
}

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestHandlerServesIndexAtRootWithSecurityHeaders(t *testing.T) {
	srv := newServer(t)
	res, body := get(t, srv, http.MethodGet, "/", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET / status = %d, want 200", res.StatusCode)
	}
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := res.Header.Get(k); got != v {
			t.Errorf("GET / header %s = %q, want %q", k, got, v)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET / Content-Security-Policy = %q, want script-src 'self'", csp)
	}
	if res.Header.Get("ETag") == "" {
		t.Error("GET / has no ETag")
	}
	for _, hook := range []string{`id="local-video"`, `id="remote-video"`, `id="status"`, `id="messages"`} {
		if !strings.Contains(body, hook) {
			t.Errorf("index.html lacks %s", hook)
		}
	}
}

func TestHandlerSetsContentTypeByExtension(t *testing.T) {
	srv := newServer(t)
	cases := []struct{ path, contentType string }{
		{"/index.html", "text/html; charset=utf-8"},
		{"/js/app.js", "text/javascript; charset=utf-8"},
		{"/js/connection.js", "text/javascript; charset=utf-8"},
		{"/css/app.css", "text/css; charset=utf-8"},
		{"/favicon.svg", "image/svg+xml"},
	}
	for _, c := range cases {
		res, body := get(t, srv, http.MethodGet, c.path, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s status = %d, want 200", c.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.contentType {
			t.Errorf("GET %s Content-Type = %q, want %q", c.path, got, c.contentType)
		}
		if body == "" {
			t.Errorf("GET %s returned an empty body", c.path)
		}
		if res.Header.Get("Content-Security-Policy") != "" && !strings.HasSuffix(c.path, ".html") {
			t.Errorf("GET %s carries a Content-Security-Policy meant for the page only", c.path)
		}
	}
}

func TestHandlerAnswersMatchingETagWithNotModified(t *testing.T) {
	srv := newServer(t)
	first, _ := get(t, srv, http.MethodGet, "/js/app.js", nil)
	etag := first.Header.Get("ETag")
	if etag == "" {
		t.Fatal("GET /js/app.js has no ETag")
	}
	res, body := get(t, srv, http.MethodGet, "/js/app.js", http.Header{"If-None-Match": {etag}})
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET status = %d, want 304", res.StatusCode)
	}
	if body != "" {
		t.Errorf("304 carried a body of %d bytes", len(body))
	}
	other, _ := get(t, srv, http.MethodGet, "/js/connection.js", nil)
	if other.Header.Get("ETag") == etag {
		t.Errorf("two different files share the ETag %s", etag)
	}
}

func TestHandlerServesHeadWithoutBody(t *testing.T) {
	srv := newServer(t)
	res, body := get(t, srv, http.MethodHead, "/css/app.css", nil)
	if res.StatusCode != http.StatusOK || body != "" {
		t.Fatalf("HEAD /css/app.css = %d with %d body bytes, want 200 and none", res.StatusCode, len(body))
	}
	if res.ContentLength <= 0 {
		t.Errorf("HEAD /css/app.css Content-Length = %d, want the file size", res.ContentLength)
	}
}

func TestHandlerRefusesOtherMethods(t *testing.T) {
	srv := newServer(t)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		res, _ := get(t, srv, method, "/", nil)
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s / status = %d, want 405", method, res.StatusCode)
		}
		if allow := res.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("%s / Allow = %q, want %q", method, allow, "GET, HEAD")
		}
	}
}

func TestHandlerAnswersUnknownPathsWithNotFound(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/nope", "/js/", "/js", "/web.go", "/handler_test.go", "/js/missing.js", "/%2e%2e/web.go"} {
		res, _ := get(t, srv, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s status = %d, want 404", path, res.StatusCode)
		}
	}
}

// TestEveryReferencedFileIsServed follows the page's links and the modules'
// imports, so a renamed or forgotten file fails here rather than in a browser.
func TestEveryReferencedFileIsServed(t *testing.T) {
	srv := newServer(t)
	_, index := get(t, srv, http.MethodGet, "/", nil)
	links := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(index, -1)
	if len(links) < 3 {
		t.Fatalf("index.html references %d local files, want the style sheet, the icon and app.js", len(links))
	}
	queue := []string{}
	for _, l := range links {
		queue = append(queue, l[1])
	}
	imports := regexp.MustCompile(`from '\./([a-z]+\.js)'`)
	seen := map[string]bool{}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if seen[path] || path == "/" {
			continue
		}
		seen[path] = true
		res, body := get(t, srv, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s is referenced but GET answers %d", path, res.StatusCode)
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(body, -1) {
			queue = append(queue, "/js/"+m[1])
		}
	}
	for _, module := range []string{"/js/app.js", "/js/connection.js", "/js/chatlog.js", "/js/media.js", "/js/interests.js"} {
		if !seen[module] {
			t.Errorf("%s is not reachable from index.html", module)
		}
	}
}
