package main

import (
	"context"
	"fmt"

	"marquee/auth"
)

const tokenAbout = `API token tools:
  marquee token new [--read] [--name NAME]
      prints a new random API token and its MARQUEE_API_TOKENS entry`

const tokenNewAbout = `Prints a new random API token on the first line of stdout, and on the second
its MARQUEE_API_TOKENS entry, which holds only the token's SHA-256
(name=NAME:sha256:HEX[:read]). Give the token to its client and the entry to
Marquee (entries are comma-separated): the configuration then holds nothing
that lets anyone write. Nothing is kept: the token is shown this once.`

func tokenCommand(_ context.Context, args []string, env environment) int {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, "marquee token: no tool given\n\n"+tokenAbout+"\n")
		return exitUsage
	}
	switch args[0] {
	case "new":
		return tokenNewCommand(args[1:], env)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(env.stdout, tokenAbout)
		return exitOK
	}
	fmt.Fprintf(env.stderr, "marquee token: unknown tool %q\n\n%s\n", args[0], tokenAbout)
	return exitUsage
}

func tokenNewCommand(args []string, env environment) int {
	f := newFlags("marquee token new [--read] [--name NAME]", tokenNewAbout)
	var readOnly bool
	var name string
	f.set.BoolVar(&readOnly, "read", false, "make a read-only token (it identifies its client for the rate limit, and cannot write)")
	f.set.StringVar(&name, "name", "", "the token's `name` in logs and audits: letters, digits, '.', '_', '-' (default sha256: and the first 8 hex digits of its hash)")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if name != "" {
		if err := auth.ValidTokenName(name); err != nil {
			return f.usageExit(&usageError{"--name: " + err.Error()}, env)
		}
	}
	token, err := auth.NewToken()
	if err != nil {
		fmt.Fprintf(env.stderr, "marquee token new: %v\n", err)
		return exitFailure
	}
	role := auth.RoleWrite
	if readOnly {
		role = auth.RoleRead
	}
	fmt.Fprintf(env.stdout, "%s\n%s\n", token, auth.HashedEntry(token, name, role))
	return exitOK
}
