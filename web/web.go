// Package web serves tandem's browser client: one HTML page, its style sheet
// and plain ES modules, embedded in the binary so that running the server is
// all it takes to use it. There is no build step; the files under web/ are
// exactly what browsers receive.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed index.html favicon.svg css js
var files embed.FS

// contentTypes names the media type of every extension the client ships, so
// the answer never depends on the host's MIME tables or on sniffing.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// contentSecurityPolicy allows the page to load only its own files, talk only
// to its own origin (the WebSocket included) and show local media streams.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves a fixed set of assets by URL path. It is immutable after
// construction, so any number of requests may use it at once.
type handler struct {
	assets map[string]asset
}

// Handler returns an http.Handler that serves the embedded web client:
// index.html at "/" and every other file at its path below web/ (for example
// "/js/app.js"). It answers GET and HEAD only, sets an explicit Content-Type,
// a strong ETag and "Cache-Control: no-cache" (browsers revalidate and get 304
// while the binary is unchanged, and see a new client as soon as it changes),
// and security headers (nosniff, a strict Content-Security-Policy). Unknown
// paths get 404. The returned handler is safe for concurrent use.
//
// Handler panics only if the embedded files cannot be read, which a build of
// this package rules out; it is a programming error, like template.Must.
func Handler() http.Handler {
	h, err := newHandler(files)
	if err != nil {
		panic(fmt.Sprintf("web: read embedded client: %v", err))
	}
	return h
}

// newHandler reads every file of fsys into memory and precomputes its headers.
func newHandler(fsys fs.FS) (*handler, error) {
	h := &handler{assets: make(map[string]asset)}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		sum := sha256.Sum256(body)
		h.assets["/"+name] = asset{
			body:        body,
			contentType: contentTypeOf(name),
			etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk embedded files: %w", err)
	}
	if _, ok := h.assets["/index.html"]; !ok {
		return nil, fmt.Errorf("walk embedded files: index.html missing")
	}
	return h, nil
}

// contentTypeOf returns the media type for a file name.
func contentTypeOf(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// ServeHTTP serves one asset, answering conditional requests with 304.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := r.URL.Path
	if name == "/" {
		name = "/index.html"
	}
	a, ok := h.assets[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(a.contentType, "text/html") {
		hdr.Set("Content-Security-Policy", contentSecurityPolicy)
		hdr.Set("Permissions-Policy", "camera=(self), microphone=(self)")
	}
	// The embedded files carry no modification time; the ETag alone decides
	// freshness, and ServeContent handles If-None-Match, HEAD and ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
