#!/usr/bin/env python3
"""Benchmark (not a test) of issue 18's bot path: RUNS runs × (running, terminal) on a Redis
stream (a local redis-server), consumed by 2 `build --consume --drain --bot-file`
gateways sharing the Redis dedupe store, against `mock_server --rest` (the test suite's
REST emulator). Reports events/s end to end, REST writes/s (creates + patches + replies),
REST reads/s (the GET that checks a recorded post before each patch, and the look-ups of
a broken job's thread: all runs are one job, every third fails, so the runs after a
failure reply in its thread),
each gateway's peak RSS (GNU time -v), and what the emulator saw: channel posts, replies,
patches and how many runs got more than one channel post (must be 0).

Build first (release, as scripts/bench.sh does):
  cargo build --release --locked --bin mmnotify
  cargo build --release --locked --example mock_server
  python3 scripts/bench-bot.py --mmnotify target/release/mmnotify \
      --server target/release/examples/mock_server [--runs 1000]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import peak_rss_kib, resp, time_v  # noqa: E402


def start_rest_server(server_bin):
    proc = subprocess.Popen([server_bin, "--rest"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    info = {}
    for line in proc.stdout:
        line = line.strip()
        if line == "READY":
            break
        key, _, value = line.partition(" ")
        info[key] = value
    return proc, info


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mmnotify", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--runs", type=int, default=1000)
    args = p.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        server, info = start_rest_server(args.server)
        summary = None
        try:
            for _ in range(100):
                if subprocess.run(["redis-cli", "-p", str(port), "PING"],
                                  capture_output=True).stdout.strip() == b"PONG":
                    break
                time.sleep(0.05)
            url = f"redis://127.0.0.1:{port}/0"
            bot = os.path.join(tmp, "bench.bot")
            with open(bot, "w") as f:
                f.write(f"{info['BOT_URL']}\n{info['BOT_TOKEN']}\n")
            os.chmod(bot, 0o600)
            # running, then the outcome, of each run, in stream order; all in one pipe so
            # that only the gateways are timed.
            events = []
            for i in range(args.runs):
                for state in ("running", "failed" if i % 3 == 0 else "succeeded"):
                    events.append(resp("XADD", "mmnotify:events", "*", "event", json.dumps({
                        "workflow": "deploy", "state": state, "branch": "main",
                        "repository": "acme/app", "provider_run_id": str(i),
                        "mesh_node_id": f"builder-{i % 4}",
                    }, separators=(",", ":"))))
            subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=b"".join(events),
                           stdout=subprocess.DEVNULL, check=True)
            start = time.perf_counter()
            gateways = []
            for name in ("gw-a", "gw-b"):
                cmd = [args.mmnotify, "build", "--consume", "--drain", "--queue", url,
                       "--bot-file", bot, "--channel", info["CHANNEL"], "--consumer", name,
                       "--state-dir", os.path.join(tmp, name), "-q"]
                gateways.append(time_v(cmd, stderr=subprocess.DEVNULL))
            codes = [g.wait() for g, _ in gateways]
            wall = time.perf_counter() - start
            rss = [peak_rss_kib(r) for _, r in gateways]
            pending = subprocess.run(["redis-cli", "-p", str(port), "XPENDING",
                                      "mmnotify:events", "mmnotify"],
                                     capture_output=True, text=True).stdout.split()[0]
        finally:
            server.stdin.close()
            err = server.stderr.read()
            server.wait()
            # "mock server: N channel posts, R replies, P patches, K runs, D runs with ..."
            for line in err.splitlines():
                if "channel posts" in line:
                    nums = [int(w) for w in line.replace(",", " ").split() if w.isdigit()]
                    summary = dict(zip(
                        ["channel_posts", "replies", "patches", "runs",
                         "runs_with_more_than_one_post", "reads",
                         "runs_in_a_broken_jobs_thread"], nums))
            redis.terminate()
            redis.wait()
    events_n = 2 * args.runs
    # Replies include the runs' own posts in a broken job's thread (creates, like
    # channel posts); reads are the GETs: the check of a recorded post before each
    # patch (review of issue 18) and the look-ups of a broken job's thread.
    writes = sum(summary[k] for k in ("channel_posts", "replies", "patches")) if summary else None
    print(json.dumps({
        "runs": args.runs,
        "events": events_n,
        "gateways": 2,
        "gateway_exit_codes": codes,
        "wall_s": round(wall, 3),
        "events_per_s": round(events_n / wall),
        "rest_writes_per_s": round(writes / wall) if writes else None,
        "rest_reads_per_s": round(summary["reads"] / wall) if summary else None,
        "pending_after": int(pending),
        "emulator": summary,
        "peak_rss_kib_per_gateway": rss,
    }, indent=2))


if __name__ == "__main__":
    main()
