#!/usr/bin/env python3
"""Benchmark (not a test) of the dedupe store against a long history; run by
scripts/bench-dedupe.sh, which builds the release binary and the emulator.

single: one-shot `mmnotify build` that claims, posts to the local emulator and records
        its key, against a store pre-filled with --keys remembered keys and against an
        empty store, alternating the two run by run so that machine noise hits both
        alike. Medians of wall time and of peak RSS (`/usr/bin/time -v`), and ratios.
events: one `build --events -` consumer of --events new events against the pre-filled
        store: throughput and peak RSS.
history: the pre-filled store also holds --jobs job histories (issue 16), and with
        --baseline BINARY (an mmnotify without job histories) `--events` runs of the two
        binaries alternate (--pairs of them), each in a fresh store holding --jobs
        histories: transitions on (this binary) vs off (baseline), ratio of medians.
        Two baselines make sense: the last release without job histories (7ac8521), and
        this commit with scripts/bench-no-history.patch applied (`git worktree add`,
        `git apply`, `cargo build --release --locked --bin mmnotify`): the same code with
        no job history read or written, so that only the history's cost is measured.

The pre-filled store is written straight in the on-disk format (see
src/state/dedupe.rs): `dedupe/delivered/XXX.log`, one `<key> <at_ms> <expires_ms>` line
per key, in the bucket named by the key's first three hex digits, delivered over the
last week with the default 7-day TTL. Claims buckets start empty, as prunes keep them.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

# One harness for every benchmark: the emulator's start-up and GNU time's peak RSS.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import measure, start_server  # noqa: E402

DAY_MS = 86_400_000


def prefill(state_dir, keys):
    now = int(time.time() * 1000)
    buckets = {}
    for i in range(keys):
        key = os.urandom(32).hex()
        # Spread over the last week, oldest first, as appends leave them.
        at = now - 7 * DAY_MS + (i * 7 * DAY_MS) // keys
        buckets.setdefault(key[:3], []).append(f"{key} {at} {at + 7 * DAY_MS}\n")
    dedupe = os.path.join(state_dir, "dedupe")
    for sub in ("delivered", "claims"):
        os.makedirs(os.path.join(dedupe, sub), mode=0o700, exist_ok=True)
    for d in (state_dir, dedupe):
        os.chmod(d, 0o700)
    for bucket, lines in buckets.items():
        path = os.path.join(dedupe, "delivered", f"{bucket}.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
    size = sum(os.path.getsize(os.path.join(dedupe, "delivered", f"{b}.log")) for b in buckets)
    return size


def prefill_history(state_dir, jobs):
    """`dedupe/history/XXX.log`: one `<job hash> <expires_ms> <record>` line per job, in
    the bucket of the hash's first three hex digits (src/state/dedupe/history.rs)."""
    now = int(time.time() * 1000)
    buckets = {}
    for i in range(jobs):
        job = json.dumps([f"acme/repo-{i % 997}", f"wf-{i}", "main"], separators=(",", ":"))
        h = hashlib.sha256(b"mmnotify-job-v1\0" + job.encode()).hexdigest()
        at = now - 30 * DAY_MS + (i * 30 * DAY_MS) // max(jobs, 1)
        record = json.dumps({"st": "failed", "run": f"r{i}", "at": at, "n": 2, "k": "failure",
                             "since": at - 3_600_000, "ok_run": f"r{i - 2}",
                             "ok_at": at - 7_200_000, "seen": at,
                             "r": [f"failed:r{i - 1}", f"failed:r{i}"]},
                            separators=(",", ":"))
        buckets.setdefault(h[:3], []).append(f"{h} {at + 90 * DAY_MS} {record}\n")
    d = os.path.join(state_dir, "dedupe", "history")
    os.makedirs(d, mode=0o700, exist_ok=True)
    for bucket, lines in buckets.items():
        fd = os.open(os.path.join(d, f"{bucket}.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(lines)
    return sum(os.path.getsize(os.path.join(d, f"{b}.log")) for b in buckets)


def build_cmd(mm, secret, state_dir, run_id, extra=()):
    return [mm, "build", "--webhook-file", secret, "--no-env", "--workflow", "ci",
            "--state", "failed", "--run-id", run_id, "--state-dir", state_dir, "-q", *extra]


def bench_single(mm, secret, full, empty, runs):
    for i in range(5):  # warm caches for both
        for name, d in (("full", full), ("empty", empty)):
            measure(build_cmd(mm, secret, d, f"warm-{name}-{i}"))
    wall = {"full": [], "empty": []}
    rss = {"full": [], "empty": []}
    for i in range(runs):
        order = [("full", full), ("empty", empty)]
        if i % 2:
            order.reverse()
        for name, d in order:
            w, r = measure(build_cmd(mm, secret, d, f"run-{i}"))
            wall[name].append(w)
            rss[name].append(r)
    # The same key again: a duplicate, found without a post.
    dup_wall, _ = measure(build_cmd(mm, secret, full, "run-0"))
    med = statistics.median
    return {
        "runs": runs,
        "full_wall_ms": round(med(wall["full"]) * 1000, 2),
        "empty_wall_ms": round(med(wall["empty"]) * 1000, 2),
        "wall_ratio": round(med(wall["full"]) / med(wall["empty"]), 3),
        "full_rss_kib": med(rss["full"]),
        "empty_rss_kib": med(rss["empty"]),
        "rss_ratio": round(med(rss["full"]) / med(rss["empty"]), 3),
        "full_duplicate_wall_ms": round(dup_wall * 1000, 2),
    }


def bench_events(mm, secret, state_dir, count, tmp):
    events = os.path.join(tmp, "events.ndjson")
    with open(events, "w") as f:
        for i in range(count):
            f.write(json.dumps({
                "workflow": "ci", "state": "succeeded" if i % 3 else "failed",
                "branch": "main", "commit": f"{i:040x}",
                "run_url": f"https://ci.example.com/runs/{i}",
                "mesh_node_id": f"builder-{i % 8}", "provider_run_id": f"ev-{i}",
            }) + "\n")
    cmd = [mm, "build", "--webhook-file", secret, "--events", "-", "--no-env",
           "--state-dir", state_dir, "-q"]
    with open(events) as stdin:
        wall, rss = measure(cmd, stdin=stdin)
    return {"events": count, "wall_s": round(wall, 3), "events_per_s": round(count / wall),
            "peak_rss_kib": rss}


def bench_pairs(args, secret, tmp):
    """`--events` with transitions on (this binary) and off (the baseline), alternating
    run by run, each in a fresh store holding --jobs histories (neither sees the other's
    keys); medians and their ratio."""
    rates = {"on": [], "off": []}
    for i in range(args.pairs):
        order = [("on", args.mmnotify), ("off", args.baseline)]
        if i % 2:
            order.reverse()
        for name, binary in order:
            d = os.path.join(tmp, f"events-{name}-{i}")
            prefill_history(d, args.jobs)
            rates[name].append(bench_events(binary, secret, d, args.events, tmp)["events_per_s"])
            shutil.rmtree(d)
    med = statistics.median
    return {
        "events_pairs": args.pairs,
        "events_transitions_on_per_s": rates["on"],
        "events_transitions_off_per_s": rates["off"],
        "events_on_vs_off_throughput": round(med(rates["on"]) / med(rates["off"]), 3),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mmnotify", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--baseline", help="an mmnotify without job histories, for --events")
    p.add_argument("--pairs", type=int, default=6,
                   help="--events runs of each binary, alternating (with --baseline)")
    args = p.parse_args()
    proc, info = start_server(args.server, tls=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            secret = os.path.join(tmp, "hook.url")
            with open(secret, "w") as f:
                f.write(info["URL"] + "\n")
            os.chmod(secret, 0o600)
            full, empty = os.path.join(tmp, "full"), os.path.join(tmp, "empty")
            started = time.perf_counter()
            size = prefill(full, args.keys)
            history_size = prefill_history(full, args.jobs)
            results = {
                "keys": args.keys,
                "jobs": args.jobs,
                "delivered_bytes": size,
                "history_bytes": history_size,
                "prefill_s": round(time.perf_counter() - started, 1),
                "single": bench_single(args.mmnotify, secret, full, empty, args.runs),
            }
            if args.baseline:
                results.update(bench_pairs(args, secret, tmp))
            else:
                on_dir = os.path.join(tmp, "events-on")
                results["events_transitions_on"] = bench_events(
                    args.mmnotify, secret, on_dir, args.events, tmp)
    finally:
        proc.stdin.close()
        proc.wait()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
