package turn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API scheme specifies.
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	pionturn "github.com/pion/turn/v5"
)

// Credentials returns TURN credentials in the "TURN REST API" scheme that
// coturn implements (use-auth-secret): username "<unix expiry>:<userID>" and
// password base64(HMAC-SHA1(secret, username)). Any TURN server sharing the
// secret accepts them until expiry. Safe for concurrent use.
func Credentials(secret, userID string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + userID
	return username, restPassword(secret, username)
}

// restPassword is base64(HMAC-SHA1(secret, username)).
func restPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username)) // hash.Hash writes never fail
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseRESTUsername splits "<unix expiry>:<userID>". The user id may itself
// contain colons; only the first one separates.
func parseRESTUsername(username string) (expiry time.Time, userID string, err error) {
	stamp, userID, found := strings.Cut(username, ":")
	if !found || userID == "" {
		return time.Time{}, "", fmt.Errorf("username %q: want <expiry>:<user id>", username)
	}
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("username %q: expiry: %w", username, err)
	}
	return time.Unix(secs, 0), userID, nil
}

// newAuthHandler returns the pion AuthHandler that accepts unexpired REST
// credentials made with secret for a user the ledger holds live (a session
// of this process received them and has not ended). It returns the user id
// (the part after the expiry) so quotas count per user, not per credential.
// A wrong password is refused by pion itself: the key returned here does not
// match the request's MESSAGE-INTEGRITY. now is injectable for tests; it
// must be safe for concurrent use.
func newAuthHandler(secret string, now func() time.Time, l *ledger, m *meters) pionturn.AuthHandler {
	return func(ra *pionturn.RequestAttributes) (string, []byte, bool) {
		expiry, userID, err := parseRESTUsername(ra.Username)
		if err != nil || !now().Before(expiry) {
			return "", nil, false
		}
		if !l.live(userID) {
			m.refusedCredentials.Add(1)
			return "", nil, false
		}
		key := pionturn.GenerateAuthKey(ra.Username, ra.Realm, restPassword(secret, ra.Username))
		return userID, key, true
	}
}

// randomSecret returns 32 random bytes, base64-encoded.
func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random TURN secret: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}
