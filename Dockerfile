# The berth-operator image the Helm chart runs (charts/berth, image.repository):
#   docker build -t <registry>/berth-operator:<tag> .
# Two stages: a release build of the operator, then the binary alone on a
# distroless base that runs as the chart's non-root user 65532.
FROM docker.io/library/rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p berth --bin berth-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/berth-operator /usr/local/bin/berth-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/berth-operator"]
