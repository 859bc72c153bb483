// Package pionlog routes the internal logging of Pion's libraries (WebRTC,
// ICE, TURN, interceptors) into tandem's slog.Logger.
//
// Pion logs some events per packet or per request, and reports recoverable
// network events (a stale candidate, a closed socket, a bad packet from a
// stranger) as errors. So trace and debug messages are dropped, info becomes
// debug, errors become warnings, the warnings every call's set-up and
// teardown produce become debug (routine), and all messages of one factory
// share a rate limit: a flood of bad packets cannot flood the log.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
	"golang.org/x/time/rate"
)

// Factory hands Pion loggers that write to one slog.Logger, with the
// attribute pion=<scope>. Safe for concurrent use.
type Factory struct {
	log     *slog.Logger
	limiter *rate.Limiter
}

// New returns a Factory writing to log, letting through at most 5 messages
// a second after a burst of 20.
func New(log *slog.Logger) *Factory {
	return &Factory{log: log, limiter: rate.NewLimiter(5, 20)}
}

// NewLogger implements logging.LoggerFactory.
func (f *Factory) NewLogger(scope string) logging.LeveledLogger {
	return &logger{factory: f, scope: scope}
}

// logger implements logging.LeveledLogger on top of slog.
type logger struct {
	factory *Factory
	scope   string
}

// allow reports whether a message at level is wanted and within the rate limit.
func (l *logger) allow(level slog.Level) bool {
	return l.factory.log.Enabled(context.Background(), level) && l.factory.limiter.Allow()
}

func (l *logger) emit(level slog.Level, msg string) {
	if routine(msg) {
		level = slog.LevelDebug
	}
	if l.allow(level) {
		l.factory.log.Log(context.Background(), level, msg, "pion", l.scope)
	}
}

func (l *logger) emitf(level slog.Level, format string, args ...any) {
	if !l.factory.log.Enabled(context.Background(), level) {
		return // not even at level: not at debug either, and Sprintf is spared
	}
	l.emit(level, fmt.Sprintf(format, args...))
}

// routine reports whether msg is one of the warnings Pion logs in the set-up or teardown of
// every call although nothing is wrong: connectivity checks before the remote's candidates
// arrived, and streams still being accepted or read while the PeerConnection closes. They are
// logged at debug, so that an operator's warnings are the ones worth reading.
func routine(msg string) bool {
	switch {
	case strings.HasPrefix(msg, "Failed to ping without candidate pairs"),
		strings.HasPrefix(msg, "Failed to accept RTP stream is already closed"),
		strings.HasPrefix(msg, "Failed to accept RTCP stream is already closed"):
		return true
	case strings.HasPrefix(msg, "Could not determine PayloadType for SSRC"):
		return strings.HasSuffix(msg, "(EOF)")
	}
	return false
}

func (l *logger) Trace(string)          {}
func (l *logger) Tracef(string, ...any) {}
func (l *logger) Debug(string)          {}
func (l *logger) Debugf(string, ...any) {}

func (l *logger) Info(msg string)                { l.emit(slog.LevelDebug, msg) }
func (l *logger) Infof(format string, a ...any)  { l.emitf(slog.LevelDebug, format, a...) }
func (l *logger) Warn(msg string)                { l.emit(slog.LevelWarn, msg) }
func (l *logger) Warnf(format string, a ...any)  { l.emitf(slog.LevelWarn, format, a...) }
func (l *logger) Error(msg string)               { l.emit(slog.LevelWarn, msg) }
func (l *logger) Errorf(format string, a ...any) { l.emitf(slog.LevelWarn, format, a...) }
