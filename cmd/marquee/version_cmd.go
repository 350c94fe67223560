package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release of this build, set at link time:
// go build -ldflags "-X main.version=v1.2.0" ./cmd/marquee
var version = "dev"

// buildInfo says which build is running.
type buildInfo struct {
	Version   string // the release, or the module version, or "dev"
	GoVersion string
	Revision  string // VCS commit, empty when the build did not record it
	Modified  bool   // the working tree had uncommitted changes
}

// readBuildInfo combines version with what the Go toolchain recorded.
func readBuildInfo() buildInfo {
	info := buildInfo{Version: version, GoVersion: runtime.Version()}
	recorded, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	// `go install marquee/cmd/marquee@v1.2.0` records the module version.
	if info.Version == "dev" && recorded.Main.Version != "" && recorded.Main.Version != "(devel)" {
		info.Version = recorded.Main.Version
	}
	for _, setting := range recorded.Settings {
		switch setting.Key {
		case "vcs.revision":
			info.Revision = setting.Value
		case "vcs.modified":
			info.Modified = setting.Value == "true"
		}
	}
	return info
}

// String is the one line `marquee version` prints.
func (b buildInfo) String() string {
	line := fmt.Sprintf("marquee %s %s %s/%s", b.Version, b.GoVersion, runtime.GOOS, runtime.GOARCH)
	if b.Revision != "" {
		line += " revision " + b.Revision
		if b.Modified {
			line += " (modified)"
		}
	}
	return line
}

func versionCommand(_ context.Context, args []string, env environment) int {
	f := newFlags("marquee version", "Prints the version, the Go version and the VCS revision of this build.")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	fmt.Fprintln(env.stdout, readBuildInfo())
	return exitOK
}
