package signaling

import "context"

// identityKey is the context key under which a request carries the identity
// an access token vouched for.
type identityKey struct{}

// WithIdentity returns a copy of ctx that carries identity: the name of the
// user (a verified access token's "sub") behind a /ws request. Hub.ServeHTTP
// logs it with every line of that user's session. Safe for concurrent use.
func WithIdentity(ctx context.Context, identity string) context.Context {
	return context.WithValue(ctx, identityKey{}, identity)
}

// IdentityFrom returns the identity stored by WithIdentity, or "" for an
// anonymous user.
func IdentityFrom(ctx context.Context) string {
	identity, _ := ctx.Value(identityKey{}).(string)
	return identity
}

// sessionEndKey is the context key of the function called when a session ends.
type sessionEndKey struct{}

// WithSessionEnd returns a copy of ctx carrying fn, which Hub.ServeHTTP calls
// exactly once when the session started by that request has ended and
// released everything (or at once if no session started). Middleware that
// holds a per-session resource, such as a per-IP slot, releases it in fn,
// since ServeHTTP itself returns while the session still runs.
func WithSessionEnd(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, sessionEndKey{}, fn)
}

// sessionEndFrom returns the function stored by WithSessionEnd, or a no-op.
func sessionEndFrom(ctx context.Context) func() {
	if fn, ok := ctx.Value(sessionEndKey{}).(func()); ok && fn != nil {
		return fn
	}
	return func() {}
}
