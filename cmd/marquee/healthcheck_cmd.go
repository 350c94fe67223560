package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

const healthcheckAbout = `Asks the Marquee process on this machine whether it is alive (GET /healthz on
the port of --http-addr, through 127.0.0.1) and exits 0 when it answers 200,
else 1. It is the container image's HEALTHCHECK: the image has no shell and
no curl. --path /readyz asks whether it is ready instead.`

func healthcheckCommand(ctx context.Context, args []string, env environment) int {
	cfg := defaultConfig()
	path := "/healthz"
	timeout := 2 * time.Second
	f := newFlags("marquee healthcheck [flags]", healthcheckAbout)
	f.String(&cfg.HTTPAddr, "http-addr", "listen `address` of the process to ask; only its port is used")
	f.String(&path, "path", "`path` to ask: /healthz or /readyz")
	f.Duration(&timeout, "timeout", "how long to wait for the answer")
	if code, ok := f.parseFlagsOnly(args, env); !ok {
		return code
	}
	if path != "/healthz" && path != "/readyz" {
		return f.usageExit(&usageError{fmt.Sprintf("--path %q: want /healthz or /readyz", path)}, env)
	}
	_, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil || port == "" || port == "0" {
		return f.usageExit(&usageError{fmt.Sprintf("--http-addr %q names no port", cfg.HTTPAddr)}, env)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(env.stderr, "marquee healthcheck: %v\n", err)
		return exitFailure
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(env.stderr, "marquee healthcheck: %s: %v\n", url, err)
		return exitFailure
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(env.stderr, "marquee healthcheck: %s: %s\n%s\n", url, res.Status, body)
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "%s: %s\n", url, res.Status)
	return exitOK
}
