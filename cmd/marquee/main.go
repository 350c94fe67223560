// Command marquee is the one Marquee binary. Its subcommands wire the parts
// together: `marquee run` runs everything in one process, `marquee migrate`
// manages the database schema, `marquee version` says which build this is.
// Exit codes: 0 success, 1 failure, 2 usage error.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful shutdown; restoring the default
	// handling then lets a second one end the process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], environment{
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		lookupEnv: os.LookupEnv,
	})
	stop()
	os.Exit(code)
}
