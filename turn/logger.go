package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
	"golang.org/x/time/rate"
)

// pionLogFactory hands pion's TURN server loggers that write to slog. Pion
// logs some events per packet or per request (at every level, even Error),
// so trace and debug messages are dropped, info becomes debug, and all
// forwarded messages share one rate limit: a flood of bad packets cannot
// flood the log. Safe for concurrent use.
type pionLogFactory struct {
	log     *slog.Logger
	limiter *rate.Limiter
}

func newPionLogFactory(log *slog.Logger) *pionLogFactory {
	return &pionLogFactory{log: log, limiter: rate.NewLimiter(5, 20)}
}

// NewLogger implements logging.LoggerFactory.
func (f *pionLogFactory) NewLogger(scope string) logging.LeveledLogger {
	return &pionLogger{factory: f, scope: scope}
}

// pionLogger implements logging.LeveledLogger on top of slog.
type pionLogger struct {
	factory *pionLogFactory
	scope   string
}

func (l *pionLogger) emit(level slog.Level, msg string) {
	ctx := context.Background()
	if !l.factory.log.Enabled(ctx, level) || !l.factory.limiter.Allow() {
		return
	}
	l.factory.log.Log(ctx, level, msg, "pion", l.scope)
}

func (l *pionLogger) emitf(level slog.Level, format string, args ...any) {
	ctx := context.Background()
	if !l.factory.log.Enabled(ctx, level) || !l.factory.limiter.Allow() {
		return
	}
	l.factory.log.Log(ctx, level, fmt.Sprintf(format, args...), "pion", l.scope)
}

func (l *pionLogger) Trace(string)          {}
func (l *pionLogger) Tracef(string, ...any) {}
func (l *pionLogger) Debug(string)          {}
func (l *pionLogger) Debugf(string, ...any) {}

func (l *pionLogger) Info(msg string)                { l.emit(slog.LevelDebug, msg) }
func (l *pionLogger) Infof(format string, a ...any)  { l.emitf(slog.LevelDebug, format, a...) }
func (l *pionLogger) Warn(msg string)                { l.emit(slog.LevelWarn, msg) }
func (l *pionLogger) Warnf(format string, a ...any)  { l.emitf(slog.LevelWarn, format, a...) }
func (l *pionLogger) Error(msg string)               { l.emit(slog.LevelError, msg) }
func (l *pionLogger) Errorf(format string, a ...any) { l.emitf(slog.LevelError, format, a...) }
