package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the version this binary was built as, set at link time by
// `make build` and `make run` (-ldflags "-X main.version=..."); empty in
// other builds, which then report the module version Go recorded. It is
// written only by the linker, so any goroutine may read it.
var version string

// buildVersion describes this binary for -version and the start-up log.
func buildVersion() string {
	info, _ := debug.ReadBuildInfo()
	return describeBuild(version, info)
}

// describeBuild formats a build description from the link-time version
// (preferred when set) and Go's build information (nil when the binary has
// none): "tandem VERSION (revision R, committed T, with local changes) GO".
// The parenthesis lists only what Go recorded from version control.
func describeBuild(stamped string, info *debug.BuildInfo) string {
	v, goVersion := stamped, runtime.Version()
	var details []string
	if info != nil {
		if v == "" {
			v = info.Main.Version
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		details = vcsDetails(info.Settings)
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	out := "tandem " + v
	if len(details) > 0 {
		out += " (" + strings.Join(details, ", ") + ")"
	}
	return out + " " + goVersion
}

// vcsDetails lists the version control facts Go stamped into the binary
// (builds in a checkout without -buildvcs=false), in a fixed order.
func vcsDetails(settings []debug.BuildSetting) []string {
	var rev, when string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var details []string
	if rev != "" {
		details = append(details, "revision "+rev)
	}
	if when != "" {
		details = append(details, "committed "+when)
	}
	if modified {
		details = append(details, "with local changes")
	}
	return details
}
