# syntax=docker/dockerfile:1
#
# The one Marquee binary in a minimal image: built static (CGO off: SQLite is
# pure Go), run as a non-root user from a distroless base, with /data as the
# data dir. Every service of compose.yml runs this image with its own
# subcommand.
#
#   docker build --build-arg VERSION=v1.0.0 -t marquee .

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/marquee ./cmd/marquee \
	&& /out/marquee version
# The data dir, owned by the runtime user, so that a fresh volume mounted
# there inherits a writable owner.
RUN mkdir -p /out/data && chown 65532:65532 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/marquee /usr/local/bin/marquee
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV MARQUEE_DATA_DIR=/data \
	MARQUEE_HTTP_ADDR=:8080
EXPOSE 8080
VOLUME ["/data"]
# The image has no shell and no curl: the binary checks its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
	CMD ["/usr/local/bin/marquee", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/marquee"]
CMD ["run"]
