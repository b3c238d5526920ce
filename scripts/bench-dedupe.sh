#!/usr/bin/env bash
# Benchmark (not a test): single-shot `build` against a dedupe store remembering a
# million keys vs an empty one, and a `build --events` consumer's memory. Prints JSON;
# see scripts/bench-dedupe.py (options: --keys, --runs, --events).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }
cargo build --release --locked --bin mmnotify
# Separately, as in bench.sh: an example built with the binary would unify dev-dependency
# features into the measured binary.
cargo build --release --locked --example mock_server
exec python3 scripts/bench-dedupe.py --mmnotify target/release/mmnotify --server target/release/examples/mock_server "$@"
