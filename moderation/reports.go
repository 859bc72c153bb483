package moderation

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"
)

// MaxCommentRunes is the longest comment a report may carry.
const MaxCommentRunes = 500

// Client is one side of a reported call as the signaling hub knows it.
type Client struct {
	UserID    string
	IP        string
	Identity  string // the access token's subject; "" when tokens are off
	Interests []string
}

// ReportInput is a report as a user made it, with the room's evidence.
type ReportInput struct {
	Reason       string
	Comment      string
	Reporter     Client
	Reported     Client
	RoomID       string
	RoomDuration time.Duration
	Chat         []ChatLine
}

// ErrBadBan is wrapped by the error for a ban request that cannot be carried out.
var ErrBadBan = errors.New("bad ban")

// ErrBadReport is wrapped by the error for a report with an unknown reason
// or an over-long comment.
var ErrBadReport = errors.New("bad report")

// File stores a report. When it brings the reports about the reported
// client from distinct reporters within the window to the threshold, the
// client is banned (its identity when it has one, else its address), and
// the ban is returned as well. A failure to store the report is returned,
// never ignored; a failure to store the ban after it is logged.
func (m *Moderator) File(in ReportInput) (Report, *Ban, error) {
	if !ValidReason(in.Reason) {
		return Report{}, nil, fmt.Errorf("%w: reason %q is not one of %v", ErrBadReport, in.Reason, Reasons)
	}
	if utf8.RuneCountInString(in.Comment) > MaxCommentRunes {
		return Report{}, nil, fmt.Errorf("%w: comment longer than %d characters", ErrBadReport, MaxCommentRunes)
	}
	r := Report{
		Time:            m.cfg.now().UTC(),
		Reason:          in.Reason,
		Comment:         in.Comment,
		Reporter:        m.party(in.Reporter),
		Reported:        m.party(in.Reported),
		RoomID:          in.RoomID,
		RoomDuration:    in.RoomDuration,
		Chat:            in.Chat,
		Status:          StatusOpen,
		TargetKey:       m.subjectKey(in.Reported.IP, in.Reported.Identity),
		ReporterKey:     m.StoredIP(in.Reporter.IP),
		ReporterSubject: m.subjectKey(in.Reporter.IP, in.Reporter.Identity),
	}
	if r.Chat == nil {
		r.Chat = []ChatLine{}
	}
	target := banTarget(in.Reported)
	stored, err := m.store.AddReport(r)
	if err != nil {
		// A shared store that does not answer: held, and stored (and its
		// ban decided) when it answers again.
		if r, err = m.hold(r, target, err); err != nil {
			return Report{}, nil, err
		}
		m.counted(r)
		return r, nil, nil
	}
	r = stored
	m.counted(r)
	ban, err := m.autoBan(r, target)
	if err != nil {
		// The report is stored; the next report about this client decides again.
		m.log.Error("automatic ban not stored", "report", r.ID, "target", r.TargetKey, "err", err)
		return r, nil, nil
	}
	return r, ban, nil
}

// counted counts report r toward its reason's total and the reported
// client's reputation, and keeps the two clients apart.
func (m *Moderator) counted(r Report) {
	m.countReport(r.Reason)
	m.rep.reported(r.TargetKey)
	m.apart.add(r.ReporterSubject, r.TargetKey)
}

func (m *Moderator) party(c Client) Party {
	interests := c.Interests
	if interests == nil {
		interests = []string{}
	}
	return Party{UserID: c.UserID, IP: m.StoredIP(c.IP), Identity: c.Identity, Interests: interests}
}

// autoBan bans bannable (banTarget's string for the reported client; ""
// for none) when enough distinct reporters named it since the window began
// (or since its last ban, whichever is later).
func (m *Moderator) autoBan(r Report, bannable string) (*Ban, error) {
	if m.cfg.ReportThreshold == 0 || bannable == "" {
		return nil, nil
	}
	target, err := ParseTarget(bannable)
	if err != nil {
		return nil, err
	}
	m.banMu.Lock()
	defer m.banMu.Unlock()
	now := m.cfg.now()
	m.mu.RLock()
	prev, had := m.records[target.String()]
	m.mu.RUnlock()
	if had && prev.Active(now) {
		return nil, nil
	}
	since := now.Add(-m.cfg.ReportWindow)
	if had && prev.Created.After(since) {
		since = prev.Created
	}
	reporters, err := m.store.Reporters(r.TargetKey, since)
	if err != nil {
		return nil, err
	}
	if len(reporters) < m.cfg.ReportThreshold {
		return nil, nil
	}
	strikes := prev.Strikes + 1
	ban := Ban{
		Target: target.String(), Reason: r.Reason, Created: now.UTC(),
		Until: now.Add(m.banDuration(strikes)).UTC(), By: ByAuto, Strikes: strikes,
	}
	detail := fmt.Sprintf("%d reporters within %v; strike %d", len(reporters), now.Sub(since).Round(time.Second), strikes)
	if err := m.putBan(target, ban, ByAuto, detail); err != nil {
		if errors.Is(err, errStrikeTaken) {
			// Another instance made this ban; its change reaches this one.
			m.log.Info("automatic ban made by another instance", "target", ban.Target, "strike", strikes)
			return nil, nil
		}
		return nil, err
	}
	return &ban, nil
}

// errStrikeTaken is storeBan's answer for an automatic ban another process
// of a shared store stored first.
var errStrikeTaken = errors.New("strike stored by another process")

// storeBan writes ban to the store; an automatic one, to a shared store,
// only if no other process stored that strike (errStrikeTaken).
func (m *Moderator) storeBan(ban Ban) error {
	ss, shared := m.store.(StrikeStore)
	if ban.By != ByAuto || !shared {
		return m.store.PutBan(ban)
	}
	stored, err := ss.PutStrike(ban)
	if err != nil {
		return err
	}
	if !stored {
		return errStrikeTaken
	}
	return nil
}

// banTarget is what an automatic ban of c applies to, as a Target's
// string; "" when c has neither identity nor address.
func banTarget(c Client) string {
	if c.Identity != "" {
		return IdentityTarget(c.Identity).String()
	}
	a, err := netip.ParseAddr(c.IP)
	if err != nil {
		return ""
	}
	return AddrTarget(a).String()
}

// banDuration is BanDuration times BanEscalation for every strike after the
// first, at most BanMax.
func (m *Moderator) banDuration(strikes int) time.Duration {
	d := m.cfg.BanDuration
	for i := 1; i < strikes && d < m.cfg.BanMax; i++ {
		d *= time.Duration(m.cfg.BanEscalation)
	}
	return min(d, m.cfg.BanMax)
}

// putBan stores ban, puts it in force, records it in the audit log and
// tells the OnBan listeners. Called with banMu held.
func (m *Moderator) putBan(t Target, ban Ban, actor, detail string) error {
	if err := m.storeBan(ban); err != nil {
		return err
	}
	m.mu.Lock()
	m.records[ban.Target] = ban
	m.reindexLocked(t)
	listeners := m.onBan
	m.mu.Unlock()
	m.log.Info("ban in force", "target", ban.Target, "until", ban.Until, "reason", ban.Reason, "by", ban.By)
	if err := m.Record(actor, "ban", ban.Target, fmt.Sprintf("until %s, reason %q; %s", ban.Until.Format(time.RFC3339), ban.Reason, detail)); err != nil {
		return err
	}
	for _, fn := range listeners {
		fn(ban)
	}
	return nil
}

// Ban bans target (an IP, a CIDR prefix or identity:NAME) for d with
// reason, on behalf of actor (the admin token's name).
func (m *Moderator) Ban(target, reason string, d time.Duration, actor string) (Ban, error) {
	t, err := ParseTarget(target)
	if err != nil {
		return Ban{}, err
	}
	if d <= 0 {
		return Ban{}, fmt.Errorf("%w: %s: the duration must be positive", ErrBadBan, target)
	}
	m.banMu.Lock()
	defer m.banMu.Unlock()
	now := m.cfg.now()
	m.mu.RLock()
	prev := m.records[t.String()]
	m.mu.RUnlock()
	ban := Ban{Target: t.String(), Reason: reason, Created: now.UTC(), Until: now.Add(d).UTC(), By: actor, Strikes: prev.Strikes}
	if err := m.putBan(t, ban, actor, "by an operator"); err != nil {
		return Ban{}, err
	}
	return ban, nil
}

// Unban lifts the ban of target on behalf of actor; the record stays (its
// strikes still lengthen a later automatic ban). ErrNotFound when no ban of
// that target is in force.
func (m *Moderator) Unban(target, actor string) error {
	t, err := ParseTarget(target)
	if err != nil {
		return err
	}
	m.banMu.Lock()
	defer m.banMu.Unlock()
	now := m.cfg.now()
	m.mu.RLock()
	b, ok := m.records[t.String()]
	m.mu.RUnlock()
	if !ok || !b.Active(now) {
		return fmt.Errorf("unban %s: %w", t, ErrNotFound)
	}
	b.Lifted = true
	if err := m.store.PutBan(b); err != nil {
		return err
	}
	m.mu.Lock()
	m.records[b.Target] = b
	m.reindexLocked(t)
	m.mu.Unlock()
	m.log.Info("ban lifted", "target", b.Target, "by", actor)
	return m.Record(actor, "unban", b.Target, "")
}

// Review marks report id as reviewed or dismissed, with an optional note.
func (m *Moderator) Review(id, status, note, actor string) (Report, error) {
	if status != StatusReviewed && status != StatusDismissed && status != StatusOpen {
		return Report{}, fmt.Errorf("%w: status %q is not reviewed, dismissed or open", ErrBadReport, status)
	}
	r, err := m.store.Report(id)
	if err != nil {
		return Report{}, err
	}
	at := m.cfg.now().UTC()
	r.Status, r.Note, r.ReviewedBy, r.ReviewedAt = status, note, actor, &at
	if err := m.store.UpdateReport(r); err != nil {
		return Report{}, err
	}
	return r, m.Record(actor, "report_"+status, id, note)
}
