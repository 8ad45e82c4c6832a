"""Load test of ``duihua serve``: throughput, P50/P99, errors, lost requests and server RSS, on loopback only.

Three runs, each against a fresh server subprocess on 127.0.0.1 (a free port) with the NLU pipeline
(``reply=none`` unless overridden):

- ``batched``: micro-batching as configured (``server.max_batch``, ``server.max_wait_ms``),
- ``unbatched``: ``server.max_batch=1`` (one query per pipeline call, same server otherwise),
- ``batched+reload``: micro-batching while a lexicon is edited and ``POST /v1/lexicons/reload`` is called
  every second (an extra lexicon folder gains one song per reload, so every reload really rebuilds the
  automaton; the last song added must be found afterwards).
- ``batched+noop-reload``: micro-batching while ``POST /v1/lexicons/reload`` is called 5 times a second with
  nothing edited: each must answer ``"changed": false`` and cost the serving next to nothing.
- ``batched+abuse`` (``--abuse`` runs it after a clean ``batched`` run, in the same invocation): the same
  legitimate clients while, every second, 4 poison requests (a lone surrogate, sent as the raw JSON escape
  ``"\ud800北京"``) and one batch of about 1 MB (256 texts of 1,300 characters, inside ``max_body_bytes`` and
  ``max_batch_queries``) are mixed in, each on its own keep-alive connection. Only the legitimate requests are
  timed and counted as errors; the abusive ones' status codes are tallied (``abuse`` column). Targets: no
  legitimate failure, and a legitimate P99 within 2x of the clean run's.

Each run sends ``--requests`` queries (SMP2017 dev queries, cycled) from ``--concurrency`` keep-alive
connections and stops early at ``--max-seconds``. The client is a minimal asyncio HTTP/1.1 client rather than
httpx: it shares the two cores with the server, and a heavier client would measure itself. A response counts
as an error unless it is 200 and echoes its own query text; a request sent but never answered is lost. RSS is
read after a warm-up of ``2 x concurrency`` requests (first-batch allocations are not growth) and at the end.

    flock /tmp/duihua-timing.lock python bench/load.py [--requests N] [--concurrency C] [--max-seconds S]
                                                       [--modes batched,unbatched,batched+reload] [--abuse]
                                                       [overrides ...]

Prints a table, then one JSON line (the batched run's qps, p99_ms, errors, rss_growth_mb, and the ratio to the
unbatched run; with ``--abuse``, the legitimate failures and P99 under abuse and their ratio to the clean run).
The machine is shared and noisy: compare the ratios measured within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from pipeline.config import load_config
from pipeline.report import print_report

HOST = "127.0.0.1"  # loopback only, by design
MODES = {"batched": [], "unbatched": ["server.max_batch=1", "server.max_wait_ms=0"], "batched+reload": [],
         "batched+noop-reload": [],
         "batched+abuse": []}
POISON = b'{"text": "\\ud800' + "北京".encode() + b'"}'  # a lone surrogate as the JSON escape a client can send


@dataclass
class RunStats:
    mode: str
    sent: int = 0
    answered: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    reloads: int = 0
    reload_ms: list[float] = field(default_factory=list)
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    mean_batch: float = 0.0
    metrics_parse_ok: float = 0.0   # growth of /metrics' duihua_http_requests_total{path="/v1/parse",status="200"}
    error_samples: list[str] = field(default_factory=list)
    abuse: collections.Counter[str] = field(default_factory=collections.Counter)  # "kind status" -> count

    def row(self) -> dict[str, object]:
        lat = sorted(self.latencies_ms)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

        return {"mode": self.mode, "requests": self.answered, "seconds": round(self.seconds, 1),
                "qps": round(self.answered / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(pct(0.50), 1), "p99_ms": round(pct(0.99), 1), "errors": self.errors,
                "lost": self.sent - self.answered, "mean_batch": round(self.mean_batch, 1),
                "reloads": self.reloads, "rss_before_mb": round(self.rss_before_mb, 1),
                "rss_after_mb": round(self.rss_after_mb, 1),
                "rss_growth_mb": round(self.rss_after_mb - self.rss_before_mb, 1),
                "metrics_parse_ok": int(self.metrics_parse_ok),
                "metrics_match": int(self.metrics_parse_ok) == self.answered - self.errors,
                "abuse": " ".join(f"{k}:{n}" for k, n in sorted(self.abuse.items()))}


# -- a minimal HTTP/1.1 keep-alive client ----------------------------------------------------------------------
class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and "close" in value.lower():
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def drive(port: int, texts: list[str], n: int, concurrency: int, max_seconds: float, stats: RunStats) -> None:
    """``concurrency`` connections take the next query until ``n`` are sent or time is up."""
    counter = iter(range(n))
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        conn = Connection(port)
        for i in counter:
            if time.perf_counter() > deadline:
                break
            text = texts[i % len(texts)]
            body = json.dumps({"text": text}, ensure_ascii=False).encode()
            echo = json.dumps(text, ensure_ascii=False).encode()  # the answer must quote its own query
            stats.sent += 1
            t0 = time.perf_counter()
            try:
                status, payload = await asyncio.wait_for(conn.request("POST", "/v1/parse", body), 60)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as exc:
                stats.error_samples.append(f"{type(exc).__name__}: {exc}")
                await conn.close()
                conn = Connection(port)
                continue  # sent, never answered: lost
            stats.answered += 1
            stats.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200 or echo not in payload:
                stats.errors += 1
                if len(stats.error_samples) < 5:
                    stats.error_samples.append(f"{status}: {payload[:200]!r}")
        await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    stats.seconds = time.perf_counter() - t0


async def reload_unchanged(port: int, stop: asyncio.Event, stats: RunStats, per_second: int = 5) -> str:
    """``POST /v1/lexicons/reload`` ``per_second`` times a second with no lexicon edited, until ``stop``."""
    conn = Connection(port)
    while not stop.is_set():
        t0 = time.perf_counter()
        status, payload = await conn.request("POST", "/v1/lexicons/reload")
        stats.reload_ms.append((time.perf_counter() - t0) * 1000)
        if status != 200 or json.loads(payload).get("changed") is not False:
            raise RuntimeError(f"no-op reload answered {status} {payload[:200]!r}")
        stats.reloads += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, 1.0 / per_second - (time.perf_counter() - t0)))
    await conn.close()
    return ""


async def reload_every_second(port: int, lexicon: Path, stop: asyncio.Event, stats: RunStats,
                              every_s: float = 1.0) -> str:
    """Add one song to ``lexicon`` and reload, every ``every_s`` seconds, until ``stop``; the last song added."""
    conn, song = Connection(port), ""
    while not stop.is_set():
        song = f"负载测试之歌{stats.reloads:04d}"
        with (lexicon / "song.txt").open("a", encoding="utf-8") as fh:
            fh.write(song + "\n")
        t0 = time.perf_counter()
        status, payload = await conn.request("POST", "/v1/lexicons/reload")
        stats.reload_ms.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            raise RuntimeError(f"reload failed: {status} {payload[:200]!r}")
        stats.reloads += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, every_s - (time.perf_counter() - t0)))
    await conn.close()
    return song


def big_batch(texts: list[str], max_body_bytes: int) -> bytes:
    """A /v1/parse/batch body of up to 256 texts of 1,300 characters, as close to 1 MB as ``max_body_bytes``
    allows: inside every byte and count limit, so only the work it asks for can stop it."""
    long_text = "".join(texts)[:1300]
    for n in range(256, 0, -1):
        body = json.dumps({"queries": [{"text": long_text}] * n}, ensure_ascii=False).encode()
        if len(body) <= max_body_bytes:
            return body
    raise ValueError("max_body_bytes is too small for one 1,300-character text")


async def abuse_every_second(port: int, big: bytes, stop: asyncio.Event, stats: RunStats) -> None:
    """Each second, 4 poison requests and one big batch, concurrently, each kind on its own connections."""
    poison = [Connection(port) for _ in range(4)]
    heavy = Connection(port)

    async def send(conn: Connection, path: str, body: bytes, kind: str) -> None:
        try:
            status, _ = await asyncio.wait_for(conn.request("POST", path, body), 60)
            stats.abuse[f"{kind}:{status}"] += 1
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as exc:
            stats.abuse[f"{kind}:{type(exc).__name__}"] += 1
            await conn.close()

    while not stop.is_set():
        t0 = time.perf_counter()
        await asyncio.gather(*(send(c, "/v1/parse", POISON, "poison") for c in poison),
                             send(heavy, "/v1/parse/batch", big, "1MB"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, 1.0 - (time.perf_counter() - t0)))
    for conn in (*poison, heavy):
        await conn.close()


# -- the server -----------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def get_json(port: int, path: str) -> tuple[int, dict]:
    async def one() -> tuple[int, bytes]:
        conn = Connection(port)
        try:
            return await conn.request("GET", path)
        finally:
            await conn.close()

    status, payload = asyncio.run(one())
    return status, json.loads(payload)


def parse_ok_count(port: int) -> float:
    """``/metrics``' count of 200 answers to ``POST /v1/parse``, read with prometheus-client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    async def one() -> tuple[int, bytes]:
        conn = Connection(port)
        try:
            return await conn.request("GET", "/metrics")
        finally:
            await conn.close()

    _, payload = asyncio.run(one())
    wanted = {"path": "/v1/parse", "status": "200"}.items()  # summed over the replica label of --engine ray
    return sum(s.value for f in text_string_to_metric_families(payload.decode()) for s in f.samples
               if s.name == "duihua_http_requests_total" and wanted <= s.labels.items()
               and set(s.labels) <= {"path", "status", "replica"})


def bench_env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "DUIHUA_CACHE_DIR": str(workdir / "cache")}  # reload builds do not fill ~/.cache


def warm_cache(overrides: list[str], workdir: Path) -> None:
    """Export the ONNX graphs into the bench's cache in a process of their own, once. Otherwise the first
    server would export them itself, importing torch and transformers, and its RSS would measure the export,
    not serving (a user's server starts on a warm cache after its first run)."""
    marker = workdir / "cache" / ".warm"
    if marker.exists():
        return
    subprocess.run([sys.executable, "-m", "pipeline.cli", "run", "--compact", *overrides, "打开qq"],
                   env=bench_env(workdir), check=True, stdout=subprocess.DEVNULL)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def start_server(overrides: list[str], port: int, workdir: Path, engine: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pipeline.cli", "serve", *engine, f"server.host={HOST}", f"server.port={port}",
           *overrides]
    env = bench_env(workdir)
    log = (workdir / f"server-{port}.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {(workdir / f'server-{port}.log').read_text()}")
        try:
            if get_json(port, "/readyz")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("server not ready within 180 s")


def rss_mb(proc: subprocess.Popen, engine: list[str]) -> float:
    """The server's RSS; under ``--engine ray``, the sum over its Ray Serve replicas (where the models live)."""
    if not engine:
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    replicas = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[0].startswith(
        "ray::ServeReplica:duihua")]
    return sum(p.memory_info().rss for p in replicas) / 2**20


def run_mode(mode: str, texts: list[str], args: argparse.Namespace, workdir: Path) -> RunStats:
    stats = RunStats(mode)
    overrides = ["reply=none", *MODES[mode], *args.overrides]
    lexicon = workdir / "loadtest_lexicon"
    if mode.endswith("+reload"):
        lexicon.mkdir(exist_ok=True)
        (lexicon / "lexicon.yaml").write_text(
            "domain: loadtest\ndescription: songs added during bench/load.py\nsource: generated\n"
            "slots:\n  - {type: song, files: [song.txt], priority: 10}\n", encoding="utf-8")
        (lexicon / "song.txt").write_text("负载测试之歌\n", encoding="utf-8")
        overrides.append(f"lexicons.extra_dirs=[{lexicon}]")
    warm_cache(["reply=none", *args.overrides], workdir)
    port = free_port()
    engine = ["--engine", "ray", "--replicas", str(args.replicas)] if args.engine == "ray" else []
    proc = start_server(overrides, port, workdir, engine)
    try:
        asyncio.run(drive(port, texts, 2 * args.concurrency, args.concurrency, 60, RunStats("warm-up")))
        stats.rss_before_mb = rss_mb(proc, engine)
        before = get_json(port, "/readyz")[1]
        ok_before = parse_ok_count(port)

        async def measured() -> str:
            if mode.endswith("+abuse"):
                stop = asyncio.Event()
                big = big_batch(texts, int(load_config("pipeline", args.overrides).server.max_body_bytes))
                abuser = asyncio.create_task(abuse_every_second(port, big, stop, stats))
                await drive(port, texts, args.requests, args.concurrency, args.max_seconds, stats)
                stop.set()
                await abuser
                return ""
            if not mode.endswith("reload"):
                await drive(port, texts, args.requests, args.concurrency, args.max_seconds, stats)
                return ""
            stop = asyncio.Event()
            reloads = reload_unchanged(port, stop, stats) if mode.endswith("noop-reload") else \
                reload_every_second(port, lexicon, stop, stats, args.reload_every)
            reloader = asyncio.create_task(reloads)
            await drive(port, texts, args.requests, args.concurrency, args.max_seconds, stats)
            stop.set()
            return await reloader

        last_song = asyncio.run(measured())
        stats.rss_after_mb = rss_mb(proc, engine)
        after = get_json(port, "/readyz")[1]
        stats.metrics_parse_ok = parse_ok_count(port) - ok_before
        batches = after["batches"] - before["batches"]
        stats.mean_batch = (after["queries"] - before["queries"]) / batches if batches else 0.0
        if last_song:
            _, result = asyncio.run(_parse(port, f"我想听{last_song}"))
            found = [m["surface"] for s in result["sentences"] for m in s["slots"]]
            if last_song not in found:
                stats.errors += 1
                stats.error_samples.append(f"after reloads, {last_song} not found (slots {found})")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return stats


async def _parse(port: int, text: str) -> tuple[int, dict]:
    conn = Connection(port)
    try:
        status, payload = await conn.request("POST", "/v1/parse", json.dumps({"text": text}).encode())
        return status, json.loads(payload)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="per run; stops sending after this")
    parser.add_argument("--modes", default="batched,unbatched,batched+reload",
                        help=f"comma-separated subset of {list(MODES)}")
    parser.add_argument("--abuse", action="store_true", help="a clean run, then one with abusive requests mixed "
                        "in (--modes batched,batched+abuse)")
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="ray: duihua serve --engine ray (Ray Serve replicas); RSS is the replicas' sum")
    parser.add_argument("--replicas", type=int, default=2, help="--engine ray: replicas")
    parser.add_argument("--reload-every", type=float, default=1.0, help="seconds between reloads (+reload)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every server, e.g. server.max_batch=64")
    args = parser.parse_args()
    modes = ["batched", "batched+abuse"] if args.abuse else args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown modes {unknown}; choose from {list(MODES)}")

    data = Path(load_config("pipeline", []).paths.data)
    texts = [json.loads(line)["query"] for line in (data / "nlu/smp2017/develop.jsonl").open(encoding="utf-8")]
    workdir = Path(tempfile.mkdtemp(prefix="duihua-load-"))
    try:
        runs = []
        for mode in modes:
            print(f"[load] {mode}: up to {args.requests} requests, {args.concurrency} connections, "
                  f"<= {args.max_seconds:g} s ...", file=sys.stderr, flush=True)
            runs.append(run_mode(mode, texts, args, workdir))
            row = runs[-1].row()
            print(f"[load] {mode}: {row['qps']} qps, p99 {row['p99_ms']} ms, errors {row['errors']}, "
                  f"lost {row['lost']}", file=sys.stderr, flush=True)
            for sample in runs[-1].error_samples[:5]:
                print(f"[load]   {sample}", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = [r.row() for r in runs]
    print(f"duihua serve under load: {os.cpu_count()} cores, {args.concurrency} connections, loopback")
    by_mode = {r["mode"]: r for r in rows}
    main_row = by_mode.get("batched", rows[0])
    summary: dict[str, object] = {k: main_row[k] for k in ("qps", "p50_ms", "p99_ms", "errors", "lost",
                                                            "rss_growth_mb", "requests", "mean_batch")}
    if "batched" in by_mode and "unbatched" in by_mode and by_mode["unbatched"]["qps"]:
        summary["speedup_vs_unbatched"] = round(by_mode["batched"]["qps"] / by_mode["unbatched"]["qps"], 2)
    for r, run in zip(rows, runs, strict=True):
        summary[r["mode"]] = {k: v for k, v in r.items() if k != "mode"}
        if run.reload_ms:
            summary[r["mode"]]["reload_ms_median"] = round(statistics.median(run.reload_ms), 1)
        if run.abuse:
            summary[r["mode"]]["abuse"] = dict(sorted(run.abuse.items()))
    if "batched" in by_mode and "batched+abuse" in by_mode:
        clean, abused = by_mode["batched"], by_mode["batched+abuse"]
        ratio = round(abused["p99_ms"] / clean["p99_ms"], 2) if clean["p99_ms"] else float("nan")
        failures = abused["errors"] + abused["lost"]
        summary.update(legit_failures_under_abuse=failures, legit_p99_under_abuse_vs_clean=ratio,
                       abuse_targets_met=failures == 0 and ratio <= 2.0)
    headers = list(rows[0])
    print_report(headers, [[r[h] for h in headers] for r in rows], summary)

if __name__ == "__main__":
    main()
