# The front door. `just` lists the recipes; every recipe is a plain cargo command you can run without just.

set dotenv-load := true

# Topics in reading order (`demo all` skips the ones without a demo yet).
topics := "http-basics sessions-vs-jwt auth sql-vs-nosql caching-strategies jobs webhooks uploads pagination mini-blog"

# List the recipes.
default:
    @just --list --unsorted

# Run a topic's demo from a release build (`just demo pagination --quick`), or `just demo all`.
demo topic *args:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{topic}}" = "all" ]; then
        for t in {{topics}}; do
            if [ -f "crates/$t/src/main.rs" ] || [ -f "examples/$t/src/main.rs" ]; then
                cargo run --release --quiet -p "$t" -- {{args}}
            fi
        done
    else
        cargo run --release --quiet -p "{{topic}}" -- {{args}}
    fi

# Remove the data sets a topic's demo seeded and keeps for later runs (`just forget sql-vs-nosql`),
# or every topic's with `just forget all`; each says what it removed.
forget topic:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "{{topic}}" = "all" ]; then
        for t in {{topics}}; do
            cargo run --release --quiet -p "$t" -- forget
        done
    else
        cargo run --release --quiet -p "{{topic}}" -- forget
    fi

# A topic's load benchmark against its release build (`just bench mini-blog`, `--quick` for a
# second per endpoint); the topic's `<topic>-bench` binary runs the load generator itself.
bench topic *args:
    cargo run --release --quiet -p "{{topic}}" --bin "{{topic}}-bench" -- {{args}}

# Every demo's comparison on one offline HTML page of charts (`--quick`, `--fresh`, `--no-run`);
# runs each demo that has no report yet.
report *args:
    cargo run --release --quiet -p report -- {{args}}

# Regenerate mini-blog's Postman collection from a running server's OpenAPI document
# (`cargo run -p mini-blog -- serve` first).
postman url="http://127.0.0.1:8080/api/openapi.json":
    test -d examples/mini-blog/postman/node_modules || npm ci --prefix examples/mini-blog/postman --no-audit --no-fund
    node examples/mini-blog/postman/generate.mjs {{url}}

# Run mini-blog's Postman collection with newman against a running server.
newman base="http://127.0.0.1:8080":
    test -d examples/mini-blog/postman/node_modules || npm ci --prefix examples/mini-blog/postman --no-audit --no-fund
    examples/mini-blog/postman/node_modules/.bin/newman run examples/mini-blog/postman/mini-blog.postman_collection.json --env-var baseUrl={{base}}

# Run every test (the same command CI runs; set BF_REQUIRE_SERVICES=1 to fail instead of skip).
test *args:
    cargo test --workspace {{args}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Start PostgreSQL, Redis and RabbitMQ in containers and wait until they are healthy.
up:
    docker compose up -d --wait

# Stop the containers.
down:
    docker compose down

# Which services are reachable, and how to start the missing ones.
services:
    cargo run --quiet -p support --bin services

# What CI runs: services, lint, tests with services required, every demo in quick mode.
ci:
    bash .ci/run
