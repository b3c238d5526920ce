#!/usr/bin/env bash
# Benchmarks (not tests): mmnotify against curl doing the same POST, build --events
# throughput, run's memory on a loud command, and 2 Redis gateways consuming 10,000
# events (needs redis-server). Prints JSON; see scripts/bench.py. `--only gateway` runs
# just the last; `--only send --previous OLD_BINARY` compares `send` with an earlier build.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null && [ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq curl time; }
cargo build --release --locked --bin mmnotify
# Separately: building an example with the binary would unify dev-dependency features
# into the measured binary. Release, like the binary, so the emulator is not the bottleneck.
cargo build --release --locked --example mock_server
exec python3 scripts/bench.py --mmnotify target/release/mmnotify --server target/release/examples/mock_server "$@"
