# assistd in a small image: one static binary, run as an unprivileged user.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/assistd ./cmd/assistd && mkdir -p /out/attachments

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assistd /usr/local/bin/assistd
# The folder of attachment files, owned by the user the service runs as (a volume mounted here
# takes this ownership).
COPY --from=build --chown=65532:65532 /out/attachments /var/lib/assistd/attachments
# The api role listens here when ASSISTD_HTTP_ADDR=0.0.0.0:8080.
EXPOSE 8080
# SIGTERM (docker stop) is a graceful shutdown: no new work, in-flight work finishes within
# ASSISTD_SHUTDOWN_TIMEOUT, the rest returns to the queue.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/assistd"]
CMD ["serve"]
