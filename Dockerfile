# tandem: a static binary on a minimal non-root image.
#   docker build -t tandem --build-arg VERSION=$(git describe --tags --always --dirty) .
#   docker run --network host -e TANDEM_PUBLIC_IP=203.0.113.10 tandem
# docs/deploy.md lists the ports and the settings for production.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version `tandem -version` prints (.git is not copied into the image).
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/tandem ./cmd/tandem \
    && mkdir -p /out/data

# distroless/static: CA certificates (for ACME), /etc/passwd with the
# "nonroot" user (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tandem /usr/local/bin/tandem
COPY --from=build --chown=65532:65532 /out/data /data
COPY configs/tandem.yaml /etc/tandem/tandem.yaml
USER 65532:65532
WORKDIR /data
ENV TANDEM_CONFIG=/etc/tandem/tandem.yaml \
    TANDEM_ACME_CACHE_DIR=/data/certs \
    TANDEM_DATA_DIR=/data/moderation
VOLUME /data
# HTTP(S) and WebSocket; TURN over UDP and TCP; TURN over TLS (if
# turn.tls_addr is set); the default media UDP port range.
EXPOSE 3000/tcp 3478/udp 3478/tcp 5349/tcp 50000-50100/udp
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tandem"]
