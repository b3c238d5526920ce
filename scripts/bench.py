#!/usr/bin/env python3
"""Benchmarks for mmnotify, run by scripts/bench.sh (which builds the binaries).

send:   `mmnotify send` against curl doing the same POST to the local emulator, over HTTP
        and HTTPS, alternating the two commands run by run so that machine noise hits both
        alike. Reports medians of wall time and peak RSS (from GNU time) and ratios.
        `https-system` is HTTPS with the CA only in a system-style bundle (the machine's
        roots plus the test CA, via SSL_CERT_FILE), as for a corporate CA: mmnotify reads
        it after the bundled roots fail, curl is given the same bundle. With
        `--previous BIN` an earlier mmnotify joins the rotation and the ratios to it are
        reported too (`--only send --previous BIN` for just that).
events: 10,000 NDJSON events through `mmnotify build --events -` with deduplication on.
run:    peak RSS of `mmnotify run` wrapping a command that prints 200 MB.
gateway: 10,000 events on a Redis stream (a local redis-server), consumed by 2
        `build --consume --drain` gateways sharing the Redis dedupe store, posting to the
        emulator: events/s end to end, posts (each event once), and each gateway's peak RSS
        (GNU time -v). Also the median wall time of one `build --enqueue`.
fleet:  the same through a Sentinel-watched Redis (master, replica, 3 Sentinels; writes
        wait for the replica): 10,000 events through 2 `--drain` gateways (events/s);
        then 2 running gateways, an event enqueued every 20 ms: enqueue-to-post latency
        (median, p99, from the XADD's reply to the emulator's receipt); then 4 builders
        enqueue 1,000 events with `build --enqueue` while a failover is forced: every
        event acknowledged (or spooled and flushed) is posted, none twice.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def start_server(server_bin, tls, stderr=None, extra=()):
    args = [server_bin] + (["--tls"] if tls else []) + list(extra)
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stderr=stderr)
    info = {}
    for line in proc.stdout:
        line = line.strip()
        if line == "READY":
            break
        key, _, value = line.partition(" ")
        info[key] = value
    return proc, info


def measure(argv, stdin=None, stdout=subprocess.DEVNULL, env=None):
    """Wall seconds and peak RSS (KiB) of one command.

    Peak RSS comes from GNU time: a child forked from Python would count Python's own
    pages before its exec. time's small fork costs both commands alike in wall time.
    """
    with tempfile.NamedTemporaryFile(mode="r") as rss_file:
        cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + argv
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        rss = int(rss_file.read().split()[-1])
    return wall, rss


SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def bench_send(mm, server_bin, runs, mode, previous=None):
    """mmnotify against curl (and, given `previous`, an earlier mmnotify binary), each run
    of the commands in a rotated order so that machine drift hits them alike."""
    tls = mode != "http"
    proc, info = start_server(server_bin, tls)
    try:
        url = info["URL"]
        with tempfile.TemporaryDirectory() as tmp:
            secret = os.path.join(tmp, "hook.url")
            with open(secret, "w") as f:
                f.write(url + "\n")
            os.chmod(secret, 0o600)
            body = '{"text":"benchmark"}'
            mm_args = ["send", "--webhook-file", secret, "--no-spool", "benchmark"]
            curl_cmd = ["curl", "-sS", "-o", "/dev/null", "--fail", "-X", "POST",
                        "-H", "Content-Type: application/json", "--data", body, url]
            extra = []
            env = None
            if mode == "https":
                extra = ["--ca-file", info["CA"]]
                curl_cmd += ["--cacert", info["CA"]]
            elif mode == "https-system":
                bundle = os.path.join(tmp, "ca-bundle.crt")
                with open(bundle, "w") as out:
                    if os.path.exists(SYSTEM_BUNDLE):
                        with open(SYSTEM_BUNDLE) as system:
                            out.write(system.read())
                    with open(info["CA"]) as ca:
                        out.write(ca.read())
                env = dict(os.environ, SSL_CERT_FILE=bundle)
                curl_cmd += ["--cacert", bundle]
            commands = {"mmnotify": [mm] + mm_args + extra, "curl": curl_cmd}
            if previous:
                commands["previous"] = [previous] + mm_args + extra
            for _ in range(5):  # warm caches for all
                for cmd in commands.values():
                    measure(cmd, env=env)
            walls = {name: [] for name in commands}
            rss = {name: [] for name in commands}
            names = list(commands)
            for i in range(runs):
                k = i % len(names)
                for name in names[k:] + names[:k]:
                    w, r = measure(commands[name], env=env)
                    walls[name].append(w)
                    rss[name].append(r)
    finally:
        proc.stdin.close()
        proc.wait()
    med = statistics.median
    result = {"scheme": mode, "runs": runs}
    for name in commands:
        result[f"{name}_wall_ms"] = round(med(walls[name]) * 1000, 2)
        result[f"{name}_rss_kib"] = med(rss[name])
    for other in [n for n in commands if n != "mmnotify"]:
        suffix = "" if other == "curl" else f"_vs_{other}"
        result[f"wall_ratio{suffix}"] = round(med(walls["mmnotify"]) / med(walls[other]), 3)
        result[f"rss_ratio{suffix}"] = round(med(rss["mmnotify"]) / med(rss[other]), 3)
    return result


def bench_events(mm, server_bin, count):
    proc, info = start_server(server_bin, False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            secret = os.path.join(tmp, "hook.url")
            with open(secret, "w") as f:
                f.write(info["URL"] + "\n")
            os.chmod(secret, 0o600)
            events = os.path.join(tmp, "events.ndjson")
            with open(events, "w") as f:
                for i in range(count):
                    f.write(json.dumps({
                        "workflow": "ci", "state": "succeeded" if i % 3 else "failed",
                        "branch": "main", "commit": f"{i:040x}",
                        "run_url": f"https://ci.example.com/runs/{i}",
                        "mesh_node_id": f"builder-{i % 8}", "provider_run_id": str(i),
                    }) + "\n")
            cmd = [mm, "build", "--webhook-file", secret, "--events", "-", "--no-env",
                   "--state-dir", os.path.join(tmp, "state"), "-q"]
            with open(events) as stdin:
                wall, rss = measure(cmd, stdin=stdin)
            # The same stream again: every event is now a duplicate.
            with open(events) as stdin:
                dup_wall, _ = measure(cmd, stdin=stdin)
    finally:
        proc.stdin.close()
        proc.wait()
    return {
        "events": count,
        "wall_s": round(wall, 3),
        "events_per_s": round(count / wall),
        "duplicates_per_s": round(count / dup_wall),
        "peak_rss_kib": rss,
    }


def bench_run(mm, size):
    cmd = [mm, "run", "--dry-run", "--", "sh", "-c", f"yes mmnotify | head -c {size}"]
    wall, rss = measure(cmd)
    return {"output_bytes": size, "wall_s": round(wall, 3), "peak_rss_kib": rss}


def resp(*args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
    return b"".join(out)


def time_v(argv, **kw):
    """Starts argv under GNU time -v; returns (process, file that gets the report)."""
    report = tempfile.NamedTemporaryFile(mode="r")
    proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", report.name] + argv, **kw)
    return proc, report


def peak_rss_kib(report):
    for line in report.read().splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[-1])
    return None


def bench_gateway(mm, server_bin, count):
    if not shutil.which("redis-server"):
        return {"skipped": "redis-server is not installed"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        redis = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        proc, info = start_server(server_bin, False, stderr=subprocess.PIPE)
        requests = None
        try:
            for _ in range(100):
                if subprocess.run(["redis-cli", "-p", str(port), "PING"],
                                  capture_output=True).stdout.strip() == b"PONG":
                    break
                time.sleep(0.05)
            url = f"redis://127.0.0.1:{port}/0"
            secret = os.path.join(tmp, "hook.url")
            with open(secret, "w") as f:
                f.write(info["URL"] + "\n")
            os.chmod(secret, 0o600)
            # One builder enqueue, as a builder runs it (median of 50).
            walls = []
            for i in range(50):
                w, _ = measure([mm, "build", "--enqueue", "--no-env", "--queue", url,
                                "--stream", "bench:warmup", "--workflow", "ci",
                                "--state", "failed", "--run-id", f"w{i}"])
                walls.append(w)
            # The 10,000 events go in through one pipe, so that only the gateways are timed.
            data = b"".join(
                resp("XADD", "mmnotify:events", "*", "event", json.dumps({
                    "workflow": "ci", "state": "succeeded" if i % 3 else "failed",
                    "branch": "main", "commit": f"{i:040x}",
                    "run_url": f"https://ci.example.com/runs/{i}",
                    "mesh_node_id": f"builder-{i % 8}", "provider_run_id": str(i),
                }, separators=(",", ":")))
                for i in range(count))
            subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=data,
                           stdout=subprocess.DEVNULL, check=True)
            start = time.perf_counter()
            gateways = []
            for name in ("gw-a", "gw-b"):
                cmd = [mm, "build", "--consume", "--drain", "--queue", url, "--webhook-file",
                       secret, "--consumer", name, "--state-dir", os.path.join(tmp, name), "-q"]
                gateways.append(time_v(cmd, stderr=subprocess.DEVNULL))
            for g, _ in gateways:
                g.wait()
            wall = time.perf_counter() - start
            rss = [peak_rss_kib(r) for _, r in gateways]
            pending = subprocess.run(["redis-cli", "-p", str(port), "XPENDING",
                                      "mmnotify:events", "mmnotify"],
                                     capture_output=True, text=True).stdout.split()[0]
        finally:
            proc.stdin.close()
            err = proc.stderr.read()
            proc.wait()
            # "mock server: N requests"
            for line in err.splitlines():
                if line.startswith("mock server:"):
                    requests = int(line.split()[2])
            redis.terminate()
            redis.wait()
    return {
        "events": count,
        "gateways": 2,
        "wall_s": round(wall, 3),
        "events_per_s": round(count / wall),
        "pending_after": int(pending),
        "posts": requests,
        "peak_rss_kib_per_gateway": rss,
        "enqueue_wall_ms_median": round(statistics.median(walls) * 1000, 2),
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True).stdout


class Resp:
    """A minimal RESP client: one command, one reply (enough for XADD and WAIT)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        return rest.decode()

    def call(self, *args):
        self.sock.sendall(resp(*args))
        return self.reply()


def event_json(run_id):
    return json.dumps({"workflow": "ci", "state": "failed", "branch": "main",
                       "mesh_node_id": "builder-1", "provider_run_id": run_id},
                      separators=(",", ":"))


def bench_fleet(mm, server_bin, count):
    if not shutil.which("redis-server"):
        return {"skipped": "redis-server is not installed"}
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        def start(args):
            p = subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL)
            procs.append(p)
            return p
        pm, pr = free_port(), free_port()
        for port, extra in ((pm, []), (pr, ["--replicaof", "127.0.0.1", str(pm)])):
            d = os.path.join(tmp, str(port))
            os.mkdir(d)
            start(["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                   "no", "--dir", d, *extra])
        sentinels = [free_port() for _ in range(3)]
        for sp in sentinels:
            conf = os.path.join(tmp, f"sentinel-{sp}.conf")
            with open(conf, "w") as f:
                f.write(f"port {sp}\nbind 127.0.0.1\ndir {tmp}\n"
                        f"sentinel monitor bench 127.0.0.1 {pm} 2\n"
                        "sentinel down-after-milliseconds bench 1000\n"
                        "sentinel failover-timeout bench 10000\n")
            start([conf, "--sentinel"])

        def master_port():
            out = cli(sentinels[0], "SENTINEL", "get-master-addr-by-name", "bench").split()
            return int(out[1]) if len(out) == 2 else None

        def ready():
            mp = master_port()
            if mp is None:
                return False
            rp = pr if mp == pm else pm
            if any(str(rp) not in cli(sp, "SENTINEL", "replicas", "bench") for sp in sentinels):
                return False
            return "master_link_status:up" in cli(rp, "INFO", "replication")
        deadline = time.time() + 60
        while not ready():
            if time.time() > deadline:
                sys.exit("fleet: the Sentinels never saw the replica")
            time.sleep(0.2)
        url = "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/bench/0"
        proc, info = start_server(server_bin, False, stderr=subprocess.PIPE,
                                  extra=["--post-times"])
        secret = os.path.join(tmp, "hook.url")
        with open(secret, "w") as f:
            f.write(info["URL"] + "\n")
        os.chmod(secret, 0o600)

        def gateway(name, drain):
            cmd = [mm, "build", "--consume", "--queue", url, "--webhook-file", secret,
                   "--consumer", name, "--state-dir", os.path.join(tmp, name), "-q",
                   "--claim-idle", "5s"] + (["--drain"] if drain else [])
            return subprocess.Popen(cmd, stderr=subprocess.DEVNULL)

        acked = set()
        try:
            # 1. Throughput: `count` events waiting, two draining gateways.
            data = b"".join(resp("XADD", "mmnotify:events", "*", "event", event_json(f"t{i}"))
                            for i in range(count))
            subprocess.run(["redis-cli", "-p", str(master_port()), "--pipe"], input=data,
                           stdout=subprocess.DEVNULL, check=True)
            acked.update(f"t{i}" for i in range(count))
            start_t = time.perf_counter()
            gws = [gateway(n, True) for n in ("gw-a", "gw-b")]
            for g in gws:
                g.wait()
            wall = time.perf_counter() - start_t

            # 2. Latency: two idle gateways, one event every 20 ms.
            gws = [gateway(n, False) for n in ("gw-a", "gw-b")]
            time.sleep(1.5)
            con = Resp(master_port())
            enqueued = {}
            for i in range(500):
                con.call("XADD", "mmnotify:events", "*", "event", event_json(f"l{i}"))
                enqueued[f"l{i}"] = time.time() * 1000
                acked.add(f"l{i}")
                time.sleep(0.02)
            time.sleep(2)

            # 3. A failover while 4 builders enqueue 250 events each.
            codes = {}
            env = dict(os.environ, MMNOTIFY_STATE_DIR=os.path.join(tmp, "builders"))

            def builder(b):
                for i in range(250):
                    rid = f"f{b * 250 + i}"
                    r = subprocess.run([mm, "build", "--enqueue", "--no-env", "--queue", url,
                                        "--workflow", "ci", "--state", "failed", "--run-id",
                                        rid, "--timeout", "20s"], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    codes[rid] = r.returncode
            import threading
            threads = [threading.Thread(target=builder, args=(b,)) for b in range(4)]
            for t in threads:
                t.start()
            while len(codes) < 250:
                time.sleep(0.05)
            old = master_port()
            cli(sentinels[0], "SENTINEL", "FAILOVER", "bench")
            failover_at = time.time()
            while master_port() in (old, None):
                time.sleep(0.05)
            promoted_s = time.time() - failover_at
            for t in threads:
                t.join()
            spooled = [r for r, c in codes.items() if c == 5]
            other = {r: c for r, c in codes.items() if c not in (0, 5)}
            if spooled:
                subprocess.run([mm, "flush", "--queue", url], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            acked.update(r for r, c in codes.items() if c in (0, 5))
            # Everything posted and acknowledged: nothing pending, no lag.
            deadline = time.time() + 120
            while time.time() < deadline:
                groups = cli(master_port(), "XINFO", "GROUPS", "mmnotify:events").split()
                g = dict(zip(groups[::2], groups[1::2]))
                if g.get("pending") == "0" and g.get("lag") == "0":
                    break
                time.sleep(0.25)
            time.sleep(1)
            for g in gws:
                g.terminate()
                g.wait()
        finally:
            proc.stdin.close()
            err = proc.stderr.read()
            proc.wait()
            for p in procs:
                p.terminate()
                p.wait()
    posted = {}
    for line in err.splitlines():
        if line.startswith("POST "):
            _, at, rid = line.split()
            posted.setdefault(rid, []).append(float(at))
    lat = sorted(posted[r][0] - enqueued[r] for r in enqueued if r in posted)
    return {
        "events": count,
        "gateways": 2,
        "drain_wall_s": round(wall, 3),
        "events_per_s": round(count / wall),
        "latency_events": len(lat),
        "latency_ms_median": round(statistics.median(lat), 2),
        "latency_ms_p99": round(lat[int(len(lat) * 0.99) - 1], 2),
        "failover_builder_events": len(codes),
        "failover_promoted_after_s": round(promoted_s, 2),
        "failover_spooled_then_flushed": len(spooled),
        "failover_other_exit_codes": other,
        "acknowledged": len(acked),
        "lost": len([r for r in acked if r not in posted]),
        "doubled": len([r for r, a in posted.items() if len(a) > 1]),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mmnotify", required=True)
    p.add_argument("--server", required=True, help="the emulator: cargo build --example mock_server")
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--only", choices=["gateway", "send", "fleet"],
                   help="run only this benchmark")
    p.add_argument("--previous", help="an earlier mmnotify binary: the send benchmark runs it "
                   "in the same rotation and reports mmnotify's ratios to it")
    args = p.parse_args()
    if args.only == "send":
        print(json.dumps({"binary_bytes": os.path.getsize(args.mmnotify),
                          "send": [bench_send(args.mmnotify, args.server, args.runs, mode,
                                              args.previous)
                                   for mode in ("http", "https")]}, indent=2))
        return
    if args.only == "fleet":
        print(json.dumps({"fleet": bench_fleet(args.mmnotify, args.server, args.events)},
                         indent=2))
        return
    if args.only == "gateway":
        print(json.dumps({"binary_bytes": os.path.getsize(args.mmnotify),
                          "gateway": bench_gateway(args.mmnotify, args.server, args.events)},
                         indent=2))
        return
    results = {
        "binary_bytes": os.path.getsize(args.mmnotify),
        "send": [
            bench_send(args.mmnotify, args.server, args.runs, mode, args.previous)
            for mode in ("http", "https", "https-system")
        ],
        "events": bench_events(args.mmnotify, args.server, args.events),
        "run": bench_run(args.mmnotify, 200_000_000),
        "gateway": bench_gateway(args.mmnotify, args.server, args.events),
        "fleet": bench_fleet(args.mmnotify, args.server, args.events),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
