package signaling

import (
	"fmt"
	"time"
)

// Config configures WebSocket sessions and matchmaking: the signaling
// section of tandem's configuration (its YAML keys and TANDEM_* names are the
// tags). Start from DefaultConfig; Validate says what cannot work.
type Config struct {
	// PingInterval is how often the server pings each WebSocket.
	PingInterval time.Duration `yaml:"ping_interval" env:"TANDEM_PING_INTERVAL"`
	// ReadTimeout drops a client that sent nothing (not even a pong) for this long.
	ReadTimeout time.Duration `yaml:"read_timeout" env:"TANDEM_READ_TIMEOUT"`
	// WriteTimeout bounds one WebSocket write.
	WriteTimeout time.Duration `yaml:"write_timeout" env:"TANDEM_WRITE_TIMEOUT"`
	// SendQueue is how many outgoing messages may wait for a slow client
	// before it is disconnected.
	SendQueue int `yaml:"send_queue" env:"TANDEM_SEND_QUEUE"`
	// ChatMessages chat messages are allowed per ChatWindow.
	ChatMessages int           `yaml:"chat_messages" env:"TANDEM_CHAT_MESSAGES"`
	ChatWindow   time.Duration `yaml:"chat_window" env:"TANDEM_CHAT_WINDOW"`
	// MessagesPerSecond limits all client messages together (burst twice that). A client that
	// keeps sending past the limit for a whole burst's worth of messages is disconnected.
	MessagesPerSecond int `yaml:"messages_per_second" env:"TANDEM_MESSAGES_PER_SECOND"`
	// OffersPerMinute limits webrtc_offer messages per session (burst a quarter of that, at
	// least 1); each costs the server an SDP parse and a negotiation.
	OffersPerMinute int `yaml:"offers_per_minute" env:"TANDEM_OFFERS_PER_MINUTE"`
	// InterestWait is how long a user with interests waits for someone
	// sharing one before being matched with anyone.
	InterestWait time.Duration `yaml:"interest_wait" env:"TANDEM_INTEREST_WAIT"`
	// NextPerMinute is how many find_partner and next_partner one session may send a
	// minute (in a burst of that many) before it gets slow_down; 0 means no limit.
	NextPerMinute int `yaml:"next_per_minute" env:"TANDEM_NEXT_PER_MINUTE"`
	// Terms, when not empty, is shown before the first Start (welcome's terms); a session
	// must send accept_terms before find_partner.
	Terms string `yaml:"terms" env:"TANDEM_TERMS"`
	// ChatLinks is what happens to chat messages with links: allow, strip (each link
	// replaced by "[link removed]") or refuse (error link_refused).
	ChatLinks string `yaml:"chat_links" env:"TANDEM_CHAT_LINKS"`
}

// DefaultConfig is the signaling configuration tandem starts from.
func DefaultConfig() Config {
	return Config{
		PingInterval:      15 * time.Second,
		ReadTimeout:       45 * time.Second,
		WriteTimeout:      10 * time.Second,
		SendQueue:         64,
		ChatMessages:      20,
		ChatWindow:        10 * time.Second,
		MessagesPerSecond: 50,
		OffersPerMinute:   20,
		InterestWait:      5 * time.Second,
		NextPerMinute:     20,
		ChatLinks:         "allow",
	}
}

// Validate reports the first setting that cannot work, naming its key.
func (s Config) Validate() error {
	for name, d := range map[string]time.Duration{
		"signaling.ping_interval": s.PingInterval, "signaling.read_timeout": s.ReadTimeout,
		"signaling.write_timeout": s.WriteTimeout, "signaling.chat_window": s.ChatWindow,
	} {
		if d <= 0 {
			return fmt.Errorf("%s: must be positive", name)
		}
	}
	if s.PingInterval >= s.ReadTimeout {
		return fmt.Errorf("signaling.ping_interval: must be shorter than signaling.read_timeout")
	}
	if s.SendQueue < 1 || s.ChatMessages < 1 || s.MessagesPerSecond < 1 || s.OffersPerMinute < 1 {
		return fmt.Errorf("signaling: send_queue, chat_messages, messages_per_second and offers_per_minute must be at least 1")
	}
	if 2*s.ChatMessages > s.SendQueue {
		return fmt.Errorf("signaling.chat_messages: %d is more than half of signaling.send_queue (%d); a partner's chat burst could fill a reader's queue and disconnect it", s.ChatMessages, s.SendQueue)
	}
	if s.NextPerMinute < 0 {
		return fmt.Errorf("signaling.next_per_minute: must not be negative (0 means no limit)")
	}
	switch s.ChatLinks {
	case "allow", "strip", "refuse":
	default:
		return fmt.Errorf("signaling.chat_links: %q is not allow, strip or refuse", s.ChatLinks)
	}
	if s.InterestWait < 0 {
		return fmt.Errorf("signaling.interest_wait: must not be negative")
	}
	return nil
}
