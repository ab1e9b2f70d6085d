# The rota binary in a small image, for docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rota

FROM debian:bookworm-slim
COPY --from=build /src/target/release/rota /usr/local/bin/rota
ENTRYPOINT ["rota"]
