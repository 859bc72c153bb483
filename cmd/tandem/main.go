// Command tandem runs the tandem random video chat server: the web page,
// WebSocket signaling, the SFU and the embedded TURN server, in one process.
//
// Configuration comes from built-in defaults, an optional YAML file
// (-config or TANDEM_CONFIG) and TANDEM_* environment variables; see
// configs/tandem.yaml.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandemchat/tandem/config"
	"github.com/tandemchat/tandem/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs passed in; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tandem", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", os.Getenv("TANDEM_CONFIG"), "path of a YAML config file (env TANDEM_CONFIG)")
	printConfig := fs.Bool("print-config", false, "print the effective configuration as YAML (secrets redacted) and exit")
	printVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() { usage(fs, stderr) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tandem: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *printVersion {
		fmt.Fprintln(stdout, buildVersion())
		return 0
	}

	cfg, err := config.Load(*configPath, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "tandem: %v\n", err)
		return 1
	}
	envWarnings := config.UnknownEnv(os.Environ())
	if *printConfig {
		for _, w := range envWarnings {
			fmt.Fprintf(stderr, "tandem: warning: %s\n", w)
		}
		out, err := cfg.Redacted().YAML()
		if err != nil {
			fmt.Fprintf(stderr, "tandem: %v\n", err)
			return 1
		}
		stdout.Write(out)
		return 0
	}
	log := newLogger(cfg.Log, stderr)
	for _, w := range envWarnings {
		log.Warn(w)
	}
	return serve(cfg, log, stdout)
}

// serve runs the server until SIGINT or SIGTERM, then shuts it down gracefully.
func serve(cfg config.Config, log *slog.Logger, stdout io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("tandem starting", "version", buildVersion())
	srv, err := server.Start(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	fmt.Fprintf(stdout, "tandem is running: open %s in two browser windows (Ctrl-C to stop)\n", srv.URL())
	<-ctx.Done()
	stop() // a second signal now stops the process at once
	log.Info("shutting down", "grace", cfg.HTTP.ShutdownGrace)
	if err := srv.Shutdown(context.Background()); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// newLogger builds the one logger passed to every part.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, `tandem: a self-hosted random video chat server.

Usage: tandem [flags]

Runs with built-in defaults when no config file is given; every setting can
also be set by a TANDEM_* environment variable (see configs/tandem.yaml).

Flags:
`)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nEnvironment variables:\n")
	for _, pair := range config.EnvNames() {
		fmt.Fprintf(w, "  %-32s %s\n", pair[0], pair[1])
	}
}
