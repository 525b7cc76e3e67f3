# syntax=docker/dockerfile:1
#
# The crispy server image. Two runtime targets share one build stage:
#
#   docker build -t crispy .                    # runtime (default): Debian slim + espeak-ng
#   docker build --target static -t crispy .    # static: distroless, no speech through espeak
#
# Both run as a non-root user, serve the API on :8080 and the operator
# listener (metrics, probes) on 127.0.0.1:9090 inside the container, keep
# embedded storage in /var/lib/crispy and read tenants from /etc/crispy/tenants.
# See docs/deploy.md.

ARG GO_IMAGE=golang:1.26.8-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/crispy-enigma/crispy/internal/version.Version=${VERSION}" \
      -o /out/crispy ./cmd/crispy \
 && /out/crispy version \
 && mkdir -p /out/data

# static: the binary alone on distroless. No shell, no espeak-ng: tenants whose
# tts.adapter is "espeak" answer 503 there; remote speech adapters work.
FROM gcr.io/distroless/static-debian12:nonroot AS static
COPY --from=build /out/crispy /usr/local/bin/crispy
COPY --from=build --chown=65532:65532 /out/data /var/lib/crispy
ENV CRISPY_ADDR=0.0.0.0:8080 \
    CRISPY_ENV=prod \
    CRISPY_DATA=/var/lib/crispy \
    CRISPY_TENANTS=/etc/crispy/tenants
WORKDIR /var/lib/crispy
USER 65532:65532
EXPOSE 8080
VOLUME ["/var/lib/crispy"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/crispy", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crispy"]
CMD ["serve"]

# runtime (default): Debian slim with espeak-ng, so that the offline speech
# adapter works. Last stage, so a plain `docker build` produces it.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 crispy \
 && useradd --system --uid 10001 --gid crispy --home-dir /var/lib/crispy --shell /usr/sbin/nologin crispy \
 && install -d -o crispy -g crispy -m 0750 /var/lib/crispy
COPY --from=build /out/crispy /usr/local/bin/crispy
ENV CRISPY_ADDR=0.0.0.0:8080 \
    CRISPY_ENV=prod \
    CRISPY_DATA=/var/lib/crispy \
    CRISPY_TENANTS=/etc/crispy/tenants
WORKDIR /var/lib/crispy
USER 10001:10001
EXPOSE 8080
VOLUME ["/var/lib/crispy"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/crispy", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crispy"]
CMD ["serve"]
