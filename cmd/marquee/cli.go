package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"marquee/imaging"
	"marquee/server"
)

// Exit codes of every subcommand.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// environment is what a command takes from its process besides its
// arguments, so that tests run the CLI in-process with their own.
type environment struct {
	stdout, stderr io.Writer
	lookupEnv      func(key string) (string, bool)
	// serverStarting, when set, is called with the HTTP server of a
	// long-running command after it listens and before it serves. Tests use
	// it to learn the bound address and to mount routes of their own.
	serverStarting func(*server.Server)
	// configureImaging, when set, adjusts the image compactor's settings
	// before it starts. Tests use it to send image fetches to a local server
	// (a resolver, its exact address allowed, its certificate trusted);
	// `run --demo` to confine the compactor to the demo source.
	configureImaging func(*imaging.Config)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env environment) int
}

// commands lists the subcommands in the order `marquee --help` shows them.
var commands = []command{
	{"run", "run Marquee in one process: broker, database, pipeline, APIs", runCommand},
	{"ingest", "ingest the feed: one run with --once, else on the schedule", ingestCommand},
	{"api", "serve the GraphQL and REST APIs and the image bytes (reads from a replica)", apiCommand},
	{"load", "write published profiles and image outcomes into the database", loadCommand},
	{"imaging", "fetch, check and store every requested image once", imagingCommand},
	{"broker", "run the embedded Kafka broker alone", brokerCommand},
	{"migrate", "apply pending database migrations (also: migrate status, migrate unlock)", migrateCommand},
	{"takedown", "take a performer or an image down, list takedowns, lift one", takedownCommand},
	{"dlq", "list, show, replay and purge dead letters", dlqCommand},
	{"backup", "write a consistent copy of the embedded SQLite database while it is in use", backupCommand},
	{"restore", "put a backup back into an empty data dir", restoreCommand},
	{"store", "copy the database between SQLite and MySQL, ids kept: store copy --from URL --to URL", storeCommand},
	{"dev", "developer tools: dev gen-feed, dev verify", devCommand},
	{"token", "make an API token and its configuration entry: token new [--read] [--name NAME]", tokenCommand},
	{"healthcheck", "ask the process on this machine whether it is alive (the container health check)", healthcheckCommand},
	{"version", "print the version", versionCommand},
}

// run is the whole CLI: it runs the subcommand args name and returns the exit
// code. ctx ends on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, env environment) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, "marquee: no command given\n\n"+mainUsage())
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		fmt.Fprint(env.stdout, mainUsage())
		return exitOK
	case "help":
		if len(rest) == 0 {
			fmt.Fprint(env.stdout, mainUsage())
			return exitOK
		}
		// `marquee help run` is `marquee run --help`.
		name, rest = rest[0], []string{"--help"}
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, rest, env)
		}
	}
	fmt.Fprintf(env.stderr, "marquee: unknown command %q\n\n%s", name, mainUsage())
	return exitUsage
}

func mainUsage() string {
	var b strings.Builder
	b.WriteString("Usage: marquee <command> [flags]\n\n")
	b.WriteString("Marquee ingests the performer feed, caches every thumbnail once and serves\n")
	b.WriteString("the data through GraphQL and REST.\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'marquee <command> --help' for its flags. Every setting is a flag and an\n")
	b.WriteString("environment variable: --data-dir is MARQUEE_DATA_DIR; a flag beats the variable.\n")
	return b.String()
}

// subcommand is one named subcommand of a command such as marquee dlq.
type subcommand struct {
	name string
	run  func(context.Context, []string, environment) int
}

// dispatchSubcommand runs the subcommand args[0] names with the rest of args.
// Without one, or with an unknown one, it answers the command's help to
// --help and a usage error naming the subcommands otherwise.
func dispatchSubcommand(ctx context.Context, args []string, env environment, command, about string, subs []subcommand) int {
	names := make([]string, len(subs))
	for i, sub := range subs {
		if len(args) > 0 && args[0] == sub.name {
			return sub.run(ctx, args[1:], env)
		}
		names[i] = sub.name
	}
	f := newFlags("marquee "+command+" "+strings.Join(names, "|")+" [flags]", about)
	if code, ok := f.parseOrExit(args, env); !ok {
		return code
	}
	want := names[len(names)-1]
	if len(names) > 1 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + want
	}
	if len(args) == 0 {
		return f.usageExit(&usageError{"name a subcommand: " + want}, env)
	}
	return f.usageExit(&usageError{fmt.Sprintf("unknown subcommand %q: want %s", args[0], want)}, env)
}
