#!/usr/bin/env bash
# Benchmarks (not tests): mmnotify against curl doing the same POST, build --events
# throughput, and run's memory on a loud command. Prints JSON; see scripts/bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null && [ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq curl time; }
cargo build --release --locked --bin mmnotify
server=$(cargo bench --locked --bench mock_server --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "mock_server" and m.get("executable"):
        print(m["executable"])')
exec python3 scripts/bench.py --mmnotify target/release/mmnotify --server "$server" "$@"
