# Marquee: `make run` starts the whole system embedded; `make test` runs the
# whole suite (with a throw-away MariaDB/MySQL server when one is installed).

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
# gotestsum prints every test by name (so the log shows each store test's
# sqlite and mysql runs) and a closing summary line.
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@v1.13.0
# Benchmarks: how long each runs (Go's -benchtime).
BENCHTIME ?= 1s

.PHONY: run build test test-short generate check-generate lint bench clean

run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/marquee run

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/marquee ./cmd/marquee

# The whole suite. scripts/test-mysql.sh starts one throw-away MariaDB/MySQL
# server for the run when a mariadbd/mysqld binary is installed (or uses
# MARQUEE_TEST_MYSQL_DSN); otherwise the MySQL tests try Docker, then skip
# loudly, or fail under CI=true.
test: lint check-generate
	scripts/test-mysql.sh $(GOTESTSUM) --format testname -- -count=1 ./...

# Without MySQL and the slower suites: a quick check while editing.
test-short:
	$(GO) test -short -count=1 ./...

generate:
	$(GO) generate ./...

# Generated code is committed: regenerating must change nothing. GENERATED
# lists the generated paths (gqlgen's output joins it with the GraphQL API).
GENERATED ?=
check-generate: generate
	@if [ -n "$(GENERATED)" ]; then \
		git diff --exit-code --stat -- $(GENERATED) || { echo "generated code is out of date: run make generate and commit" >&2; exit 1; }; \
	fi

lint:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files --others --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi

# Benchmarks print numbers; nothing asserts on time. BenchmarkIngestOnce
# (cmd/marquee) ingests a 100,000-item feed into SQLite and MySQL once per
# run whatever BENCHTIME says, a few minutes in all: hence the timeout.
bench:
	scripts/test-mysql.sh $(GO) test -count=1 -timeout 30m -run '^$$' -bench . -benchtime $(BENCHTIME) ./...

clean:
	rm -rf bin
