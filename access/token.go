package access

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew allowed when checking exp, nbf and iat, since
// tokens are issued by another machine (the embedding site's server).
const Leeway = 10 * time.Second

// verifier checks HS256 access tokens. Safe for concurrent use.
type verifier struct {
	secret   []byte
	audience string // required in "aud" when not empty
	issuer   string // required as "iss" when not empty
	parser   *jwt.Parser
}

func newVerifier(secret []byte, audience, issuer string, now func() time.Time) *verifier {
	return &verifier{
		secret:   secret,
		audience: audience,
		issuer:   issuer,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithLeeway(Leeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// verify returns the token's subject, or an error whose text is the reason
// given to the client.
func (v *verifier) verify(raw string) (string, error) {
	var claims jwt.RegisteredClaims
	_, err := v.parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return v.secret, nil })
	if err != nil {
		return "", errors.New(tokenReason(err))
	}
	if strings.TrimSpace(claims.Subject) == "" {
		return "", errors.New("access token has no sub claim naming the user")
	}
	if err := v.checkAudienceIssuer(&claims); err != nil {
		return "", err
	}
	return claims.Subject, nil
}

// checkAudienceIssuer refuses a token whose aud or iss is not the one the
// server was configured to require (nothing is required when unset).
func (v *verifier) checkAudienceIssuer(c *jwt.RegisteredClaims) error {
	switch {
	case v.audience != "" && len(c.Audience) == 0:
		return fmt.Errorf("access token has no aud claim; this server requires aud %q", v.audience)
	case v.audience != "" && !slices.Contains(c.Audience, v.audience):
		return fmt.Errorf("access token is for another audience (aud %q); this server requires aud %q",
			strings.Join(c.Audience, ","), v.audience)
	case v.issuer != "" && c.Issuer == "":
		return fmt.Errorf("access token has no iss claim; this server requires iss %q", v.issuer)
	case v.issuer != "" && c.Issuer != v.issuer:
		return fmt.Errorf("access token is from another issuer (iss %q); this server requires iss %q", c.Issuer, v.issuer)
	}
	return nil
}

// tokenReason turns a jwt error into a reason a deployer can act on.
func tokenReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "access token expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "access token has no exp claim; tokens must expire"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "access token is not valid yet"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "access token signature is invalid: it must be HS256, signed with the server's jwt_secret"
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "access token is malformed: want a JWT (header.payload.signature)"
	default:
		return fmt.Sprintf("access token refused: %v", err)
	}
}

// tokenOf finds the access token: the Authorization: Bearer header, else the
// token query parameter (browsers cannot set headers on a WebSocket).
func tokenOf(r *http.Request) (token, where string) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(t) != "" {
			return strings.TrimSpace(t), "header"
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t, "query"
	}
	return "", ""
}

// stripToken removes the token from r (a clone), so nothing after the guard
// can log or forward it.
func stripToken(r *http.Request) {
	r.Header.Del("Authorization")
	q := r.URL.Query()
	if q.Has("token") {
		q.Del("token")
		u := *r.URL
		u.RawQuery = q.Encode()
		r.URL = &u
		r.RequestURI = u.RequestURI()
	}
}
