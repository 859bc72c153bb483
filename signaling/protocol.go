package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ProtocolVersion is the version of the protocol (docs/protocol.md) this package speaks.
const ProtocolVersion = 1

// MaxFrameBytes is the largest WebSocket frame a client may send; a larger
// one closes the connection with status 1009.
const MaxFrameBytes = 64 << 10

// Limits of the contract on message contents.
const (
	maxChatRunes    = 1000
	maxInterests    = 10
	maxInterestRune = 32
)

// envelope is the frame every message travels in.
type envelope struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// outEnvelope is the frame the server sends.
type outEnvelope struct {
	Type string `json:"type"`
	Data any    `json:"data,omitempty"`
}

// ICEServer is one RTCIceServer entry of the welcome message.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Messages from server to client.
type (
	welcomeData struct {
		UserID     string      `json:"userId"`
		ICEServers []ICEServer `json:"iceServers"`
		Protocol   int         `json:"protocol"`
		Terms      string      `json:"terms,omitempty"`
	}
	reportReceivedData struct {
		ReportID string `json:"reportId"`
	}
	waitingData struct {
		Online int `json:"online"`
	}
	partnerFoundData struct {
		RoomID          string   `json:"roomId"`
		CommonInterests []string `json:"commonInterests"`
	}
	partnerLeftData struct {
		Reason string `json:"reason"`
	}
	chatOutData struct {
		Text   string `json:"text"`
		SentAt string `json:"sentAt"`
	}
	typingOutData struct {
		Active bool `json:"active"`
	}
	errorData struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Until      string `json:"until,omitempty"`
		Reason     string `json:"reason,omitempty"`
		RetryAfter int    `json:"retryAfter,omitempty"`
	}
	sdpData struct {
		SDP string `json:"sdp"`
	}
	videoPausedData struct {
		Weak string `json:"weak"`
	}
)

// Whose link video_paused and video_resumed speak of: the receiving user's own downlink
// (WeakSelf: it gets no video) or its partner's (WeakPartner: its video does not reach them).
const (
	WeakSelf    = "self"
	WeakPartner = "partner"
)

// Messages from client to server.
type (
	findData struct {
		Interests []string `json:"interests"`
	}
	chatInData struct {
		Text *string `json:"text"`
	}
	typingInData struct {
		Active *bool `json:"active"`
	}
	reportInData struct {
		Reason  *string `json:"reason"`
		Comment string  `json:"comment"`
	}
)

// Reasons carried by partner_left.
const (
	ReasonNext        = "next"
	ReasonLeave       = "leave"
	ReasonDisconnect  = "disconnect"
	ReasonMediaFailed = "media_failed"
	ReasonEnded       = "ended"
)

// encode renders one server message. It cannot fail for the types above.
func encode(typ string, data any) []byte {
	b, err := json.Marshal(outEnvelope{Type: typ, Data: data})
	if err != nil {
		// Only a programming error (an unsupported type) gets here.
		panic(fmt.Sprintf("signaling: encode %s: %v", typ, err))
	}
	return b
}

// decodeEnvelope parses a client frame into its type and raw data.
func decodeEnvelope(frame []byte) (envelope, *wireError) {
	var env envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		return env, errBadMessage("message is not a JSON object with \"type\" and \"data\": %s", jsonProblem(err))
	}
	if env.Type == "" {
		return env, errBadMessage("message has no \"type\"")
	}
	return env, nil
}

// decodeData parses a message's data into v; absent or null data leaves v unchanged.
func decodeData(typ string, raw json.RawMessage, v any) *wireError {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errBadMessage("%s: data %s", typ, jsonProblem(err))
	}
	return nil
}

// jsonProblem turns a json error into words for a person.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("must be a JSON %s, not %s", kindName(te.Type.Kind().String()), te.Value)
		}
		return fmt.Sprintf("field %q must be %s, not %s", te.Field, kindName(te.Type.String()), te.Value)
	}
	return err.Error()
}

func kindName(goType string) string {
	switch {
	case strings.HasPrefix(goType, "*"):
		return kindName(goType[1:])
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case goType == "struct":
		return "object"
	}
	return goType
}

// parseInterests normalises tags (trimmed, lower case, unique, in order) and
// enforces the contract's limits.
func parseInterests(tags []string) ([]string, *wireError) {
	if len(tags) > maxInterests {
		return nil, errBadMessage("find_partner: at most %d interests, got %d", maxInterests, len(tags))
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || seen[t] {
			continue
		}
		if utf8.RuneCountInString(t) > maxInterestRune {
			return nil, errBadMessage("find_partner: interest %q is longer than %d characters", t, maxInterestRune)
		}
		seen[t] = true
		out = append(out, t)
	}
	return out, nil
}

// parseChat checks a chat message's text against the contract.
func parseChat(d chatInData) (string, *wireError) {
	if d.Text == nil {
		return "", errBadMessage("chat_message: data needs a \"text\" string")
	}
	n := utf8.RuneCountInString(*d.Text)
	if n < 1 || n > maxChatRunes {
		return "", errBadMessage("chat_message: text must be 1 to %d characters, got %d", maxChatRunes, n)
	}
	return *d.Text, nil
}

// timestamp formats the server's send time for chat messages.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
