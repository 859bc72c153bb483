package moderation

import "time"

// Report reasons, as clients send them in report_partner.
const (
	ReasonNudity     = "nudity"
	ReasonHarassment = "harassment"
	ReasonSpam       = "spam"
	ReasonUnderage   = "underage"
	ReasonOther      = "other"
)

// Reasons lists every report reason.
var Reasons = []string{ReasonNudity, ReasonHarassment, ReasonSpam, ReasonUnderage, ReasonOther}

// ValidReason reports whether r is one of Reasons.
func ValidReason(r string) bool {
	for _, x := range Reasons {
		if r == x {
			return true
		}
	}
	return false
}

// Report statuses.
const (
	StatusOpen      = "open"
	StatusReviewed  = "reviewed"
	StatusDismissed = "dismissed"
)

// ChatLine is one chat message of a room, kept as evidence.
type ChatLine struct {
	From string    `json:"from"` // the sender's user id
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Party is one side of a report.
type Party struct {
	UserID    string   `json:"userId"`
	IP        string   `json:"ip"` // the client IP, or "hmac:<hex>" when IPs are hashed
	Identity  string   `json:"identity,omitempty"`
	Interests []string `json:"interests"`
}

// Report is what one user said about another, with the evidence the server
// had: the room and the last chat lines of both sides.
type Report struct {
	ID           string        `json:"id"`
	Time         time.Time     `json:"time"`
	Reason       string        `json:"reason"`
	Comment      string        `json:"comment,omitempty"`
	Reporter     Party         `json:"reporter"`
	Reported     Party         `json:"reported"`
	RoomID       string        `json:"roomId"`
	RoomDuration time.Duration `json:"roomDurationNs"`
	Chat         []ChatLine    `json:"chat"`
	Status       string        `json:"status"`
	ReviewedBy   string        `json:"reviewedBy,omitempty"`
	ReviewedAt   *time.Time    `json:"reviewedAt,omitempty"`
	Note         string        `json:"note,omitempty"`
	// TargetKey is what reports are counted under for automatic bans (the
	// reported identity, or its address key; hashed when IPs are), and
	// ReporterKey the reporter's address key (reporters from one IP count once).
	TargetKey   string `json:"targetKey"`
	ReporterKey string `json:"reporterKey"`
	// ReporterSubject is the reporter's key as TargetKey is the reported's
	// (its identity, or its address key): the two are kept apart (Apart).
	ReporterSubject string `json:"reporterSubject,omitempty"`
}

// ReportFilter selects reports; zero fields match everything.
type ReportFilter struct {
	Reason string
	Status string
	UserID string // reporter or reported
	IP     string // reporter or reported, in the stored form
	Since  time.Time
	Until  time.Time
	Before string // only reports older than this id (pagination)
	Limit  int    // at most this many; 0 means 50
}

// Ban sources.
const (
	ByAuto   = "auto"
	ByConfig = "config"
)

// Ban keeps a target out until Until. A ban's record outlives it: Strikes
// counts the automatic bans of the target, so each one lasts longer.
type Ban struct {
	Target  string    `json:"target"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
	Until   time.Time `json:"until"`
	By      string    `json:"by"` // "auto", "config", or the admin token's name
	Strikes int       `json:"strikes"`
	Lifted  bool      `json:"lifted,omitempty"`
}

// Active reports whether the ban keeps its target out at now.
func (b Ban) Active(now time.Time) bool { return !b.Lifted && now.Before(b.Until) }

// AuditEntry is one operator action.
type AuditEntry struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // the admin token's name, or "auto"
	Action string    `json:"action"` // e.g. "ban", "unban", "report_reviewed"
	Target string    `json:"target"` // what it acted on
	Detail string    `json:"detail,omitempty"`
}
