# Marquee: `make run` starts the whole system embedded; `make demo` the same
# on generated performers and images, with no network (data in ./data-demo);
# `make test` runs the whole suite (with a throw-away MariaDB/MySQL server
# when one is installed).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# gotestsum prints every test by name (so the log shows each store test's
# sqlite and mysql runs) and a closing summary line.
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@v1.13.0
# Benchmarks: how long each runs (Go's -benchtime).
BENCHTIME ?= 1s

.PHONY: run demo build test test-short generate check-generate playground lint bench clean test-faults up down secrets

run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/marquee run

demo:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/marquee run --demo

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/marquee ./cmd/marquee

# The whole suite. scripts/test-mysql.sh starts one throw-away MariaDB/MySQL
# server for the run when a mariadbd/mysqld binary is installed (or uses
# MARQUEE_TEST_MYSQL_DSN); otherwise the MySQL tests try Docker, then skip
# loudly, or fail under CI=true.
test: lint check-generate
	scripts/test-mysql.sh $(GOTESTSUM) --format testname -- -count=1 ./...

# Without MySQL and the slower suites: a quick check while editing.
# The production shape (compose.yml): needs Docker and the secret files of
# `make secrets` (once; it keeps files that exist and prints the API token).
secrets:
	scripts/compose-secrets.sh

up:
	docker compose up -d --build --wait

down:
	docker compose down

# The multi-process fault tests: a `marquee broker`, a MariaDB of their own
# and separate ingest, imaging and load processes, killed (-9) and restarted
# in the middle of their work, MariaDB stopped for 10 s, the broker restarted.
# Needs a mariadbd/mysqld binary (.ci/run installs one). A few minutes.
test-faults:
	MARQUEE_TEST_FAULTS=1 $(GO) test -count=1 -run '^TestFaults$$' -v -timeout 20m ./cmd/marquee/

test-short:
	$(GO) test -short -count=1 ./...

generate:
	$(GO) generate ./...
	$(GO) tool gqlgen generate

# Generated code is committed: regenerating must change nothing. GENERATED
# lists the generated paths (gqlgen's output joins it with the GraphQL API;
# testdata/feeds holds the feed fixtures of internal/samples).
GENERATED ?= graph/generated graph/model/models_gen.go $(wildcard graph/*.resolvers.go) testdata/feeds
check-generate: generate
	@if [ -n "$(GENERATED)" ]; then \
		git diff --exit-code --stat -- $(GENERATED) || { echo "generated code is out of date: run make generate and commit" >&2; exit 1; }; \
	fi

# The playground's GraphiQL 3 and React 18 single-file builds, as pinned by
# graph/playground/package-lock.json, installed from the npm registry into a
# temporary directory and copied into graph/playground/assets (committed,
# embedded in the binary). Run it after changing package.json (and the lock:
# npm install --package-lock-only, then strip "resolved" and "funding").
PLAYGROUND := graph/playground
playground:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cp $(PLAYGROUND)/package.json $(PLAYGROUND)/package-lock.json "$$tmp"/ && \
	(cd "$$tmp" && npm ci --ignore-scripts --no-audit --no-fund) && \
	cp "$$tmp"/node_modules/react/umd/react.production.min.js \
		"$$tmp"/node_modules/react-dom/umd/react-dom.production.min.js \
		"$$tmp"/node_modules/graphiql/graphiql.min.js \
		"$$tmp"/node_modules/graphiql/graphiql.min.css $(PLAYGROUND)/assets/ && \
	for pkg in react react-dom graphiql; do cp "$$tmp/node_modules/$$pkg/LICENSE" $(PLAYGROUND)/assets/$$pkg.LICENSE; done

lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi

# Benchmarks print numbers; nothing asserts on time. BenchmarkIngestOnce
# (cmd/marquee) ingests a 100,000-item feed into SQLite and MySQL once per
# run whatever BENCHTIME says, and the discovery benchmarks (db/) load
# 21,000 and 100,000 performers into each for every one of them: some
# minutes in all, more on a busy machine, hence the timeout.
# Where libvips is installed (pkg-config finds vips), BenchmarkVariants runs
# once more built with the vips tag: both engines, and the SSIM of the
# pure-Go output against libvips's.
bench:
	scripts/test-mysql.sh $(GO) test -count=1 -timeout 60m -run '^$$' -bench . -benchtime $(BENCHTIME) ./...
	@if pkg-config --exists vips 2>/dev/null; then \
		$(GO) test -tags vips -count=1 -timeout 30m -run '^$$' -bench BenchmarkVariants -benchtime $(BENCHTIME) ./imaging/variant; \
	else echo "bench: libvips not installed (libvips-dev): BenchmarkVariants measured the pure-Go engine only"; fi

clean:
	rm -rf bin
