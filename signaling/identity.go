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
