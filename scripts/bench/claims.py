"""Check-in benchmark: claim intake throughput and latency against the same app's trivial endpoint,
then the relayer's drain, counting every claim on chain; and scan→confirmed at a festival's pace.

Setup (:mod:`scripts.devstack`): anvil with 1 s blocks, the ledger, an open activity, and the
production processes — ``tsunagari api serve`` (uvicorn with uvloop and httptools, one worker,
access log off), ``tsunagari relay`` and ``tsunagari index run`` — on 127.0.0.1. The per-IP rate
limit is off (every simulated phone comes from 127.0.0.1); everything else is the default
configuration.

1. **bare**: 64 concurrent keep-alive connections send ``GET /health`` (constant JSON, same app,
   same worker) for ``DURATION_S``. During phases 1 and 2 only the API runs (besides anvil): on
   this 2-core machine the load generator takes one core, and a relayer and indexer competing for
   the other would measure the machine rather than the endpoint.
2. **claims**: 64 connections send valid, distinct, pre-signed claims (``POST /api/v1/claims``,
   one participant each, the kiosk's current token) for ``DURATION_S``; every 202 is a claim in
   the durable outbox. ``ratio`` = claims/s ÷ bare requests/s.
3. **drain**: start the relayer (and the indexer) and wait until every accepted claim is
   confirmed; count ``ContributionRecorded`` logs by claim id on chain: ``lost`` = accepted
   claims with no log, ``duplicated`` = claim ids with more than one.
4. **festival pace**: a fresh activity; 100 claims a second for 20 s (a 10,000-person festival
   admitting everyone in under two minutes), each timed from the phone's request to the relayer
   marking it confirmed on chain: ``scan_to_confirmed_p95_s``. (In phase 3 that time is dominated by
   the backlog the flood built, so it is reported separately as ``flood_drain_s``.)

The load generator for phases 1 and 2 is ``wrk`` (Debian's package, installed by ``./run bench``)
with :file:`claims.lua`: one thread, 64 keep-alive connections, its own latency histogram. It is a
few percent of one core at these rates, so the API's worker has a core of its own; the Python
generator this benchmark used before (an asyncio HTTP/1.1 client, kept below as the fallback where
``wrk`` is missing) took a whole core, and on two cores that measured the load generator as much as
the endpoint (docs/decisions/0002-claims-benchmark-and-latency-tail.md). Both sides of the ratio use
the same generator, and the output names it (``load_generator``). Accepted claims are counted in
the outbox, not from the generator's answers, and the two must agree.

Targets (check-in issue): ratio ≥ 0.4, claim p99 < 100 ms, lost = duplicated = 0,
scan→confirmed p95 ≤ 3 s.

**The PostgreSQL line** (``"bench": "claims_pg"``, the operator issue): the production topology's
intake, two ``tsunagari api serve`` processes on the local PostgreSQL (a throwaway schema), each
driven by its own ``wrk`` with half the connections, bare and claims alike; the relayer and the
indexer then drain the outbox and every claim is counted on chain. ``claim_p99_ms`` is the larger
of the two processes' p99. Targets: ratio ≥ 0.4, p99 < 100 ms, lost = duplicated = 0.
``TSUNAGARI_BENCH_PG=0`` skips it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from eth_keys.datatypes import PrivateKey
from eth_utils.crypto import keccak

from ledger.chain.accounts import dev_account
from ledger.chain.client import ActivitySpec
from ledger.checkin.signing import ClaimSigning
from ledger.relay.outbox import Outbox
from ledger.taxonomy import ContributionKind
from scripts.devstack import TATEYAMA, DevStack, running_stack

CONCURRENCY = 64
DURATION_S = 10.0
PACE_PER_S = 100
PACE_S = 20.0
WORKERS = int(os.environ.get("TSUNAGARI_BENCH_API_WORKERS", "1"))  # uvicorn workers, both sides alike


def _log(message: str) -> None:
    print(f"[claims] {message}", file=sys.stderr, flush=True)


def presign(signing: ClaimSigning, token: str, activity_id: int, count: int, seed: str) -> list[bytes]:
    """``count`` distinct claims as ready-to-send JSON bodies (signing is not part of the measurement)."""
    bodies = []
    requested_at = int(time.time())
    for i in range(count):
        key = PrivateKey(keccak(text=f"{seed}-{i}"))
        address = key.public_key.to_checksum_address()
        digest = signing.digest(activity_id, token, address.lower(), requested_at)
        signature = key.sign_msg_hash(digest)
        raw = signature.to_bytes()
        sig_hex = "0x" + raw[:64].hex() + format(raw[64] + 27, "02x")
        body = {
            "token": token,
            "participant": address,
            "requested_at": requested_at,
            "signature": sig_hex,
            "activity_id": activity_id,
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def _request(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    writer.write(request)
    status_line = await reader.readline()
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def load(
    port: int, requests: list[bytes] | bytes, duration_s: float, concurrency: int
) -> tuple[float, list[float], dict[int, int]]:
    """Drive the server (the fallback generator); returns (elapsed s, latencies ms, status counts)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_index = 0
    deadline = 0.0

    async def client() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                if isinstance(requests, bytes):
                    request = requests
                else:
                    if next_index >= len(requests):
                        return
                    request = requests[next_index]
                    next_index += 1
                sent = time.monotonic()
                status, _ = await _exchange(reader, writer, request)
                latencies.append((time.monotonic() - sent) * 1000)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    started = time.monotonic()
    deadline = started + duration_s
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.monotonic() - started, latencies, statuses


_LUA = Path(__file__).with_name("claims.lua")


def wrk_load(
    port: int, bodies: list[bytes] | None, duration_s: float, concurrency: int, workdir: Path
) -> dict[str, Any]:
    """Drive the server with ``wrk``: ``GET /health`` when ``bodies`` is None, else each body once as a
    ``POST /api/v1/claims``. Returns wrk's summary (requests, seconds, statuses, p50/p90/p99/max ms)."""
    args = ["health"]
    if bodies is not None:
        path = workdir / "claim-bodies.jsonl"
        path.write_bytes(b"\n".join(bodies) + b"\n")
        args = ["claims", str(path)]
    wrk = shutil.which("wrk") or "wrk"
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{duration_s:g}s", "--latency", "-s", str(_LUA)]
    done = subprocess.run(
        [*command, f"http://127.0.0.1:{port}", "--", *args],
        capture_output=True,
        text=True,
        timeout=duration_s + 120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    summary: dict[str, Any] = json.loads(lines[-1])
    summary["statuses"] = {int(k): int(v) for k, v in summary["statuses"].items()}
    return summary


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def _drive(
    port: int, bodies: list[bytes] | None, use_wrk: bool, workdir: Path
) -> tuple[int, float, float, float, dict[int, int]]:
    """One measured phase, 64 connections for ``DURATION_S``: ``GET /health`` when ``bodies`` is None,
    else each claim body once. Returns (2xx answers, seconds, p50 ms, p99 ms, status counts)."""
    if use_wrk:
        summary = wrk_load(port, bodies, DURATION_S, CONCURRENCY, workdir)
        seconds, p50, p99 = float(summary["seconds"]), float(summary["p50_ms"]), float(summary["p99_ms"])
        statuses: dict[int, int] = summary["statuses"]
    else:
        requests = (
            _request("GET", "/health", port)
            if bodies is None
            else [_request("POST", "/api/v1/claims", port, b) for b in bodies]
        )
        seconds, latencies, statuses = asyncio.run(load(port, requests, DURATION_S, CONCURRENCY))
        p50, p99 = _pct(latencies, 50), _pct(latencies, 99)
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return ok, seconds, p50, p99, statuses


async def paced(port: int, bodies: list[bytes], per_s: float) -> list[tuple[float, bytes]]:
    """Send ``bodies`` at ``per_s`` a second (one connection per in-flight request, like phones)."""
    answered: list[tuple[float, bytes]] = []

    async def one(body: bytes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            wall = time.time()
            status, answer = await _exchange(reader, writer, _request("POST", "/api/v1/claims", port, body))
            if status == 202:
                answered.append((wall, answer))
        finally:
            writer.close()

    tasks = []
    started = time.monotonic()
    for i, body in enumerate(bodies):
        delay = started + i / per_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body)))
    await asyncio.gather(*tasks)
    return answered


def _confirmed_at(stack: DevStack, claim_ids: list[int]) -> dict[int, int]:
    wanted = set(claim_ids)
    return {i: t for i, t in Outbox(stack.engine).confirmed_at().items() if i in wanted}


def run() -> list[dict[str, Any]]:
    with (
        tempfile.TemporaryDirectory(prefix="tsunagari-bench-claims-") as tmp,
        running_stack(Path(tmp), services=("api",), settings={"TSUNAGARI_CHECKIN__RATE_IP_PER_MIN": "0"}) as stack,
    ):
        results = [_run(stack, Path(tmp))]
    if os.environ.get("TSUNAGARI_BENCH_PG", "1") != "0":
        results.append(run_postgres())
    return results


POSTGRES_URL = os.environ.get("TSUNAGARI_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def _pg_schema() -> Iterator[str]:
    """A throwaway schema on the local PostgreSQL; its URL (search_path set)."""
    from sqlalchemy import text

    from ledger.db.engine import make_engine

    schema = f"bench_claims_{os.getpid()}"
    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


def _drive_both(ports: tuple[int, int], bodies: list[bytes] | None, workdir: Path) -> dict[str, Any]:
    """Both API processes at once, each with its own wrk and half the connections (and half the
    claims); the answers summed, the worse p99."""
    summaries: list[dict[str, Any]] = [{}, {}]

    def drive(i: int) -> None:
        half = None if bodies is None else bodies[i::2]
        folder = workdir / f"wrk-{i}"
        folder.mkdir(exist_ok=True)
        summaries[i] = wrk_load(ports[i], half, DURATION_S, CONCURRENCY // 2, folder)

    threads = [threading.Thread(target=drive, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = sum(n for s in summaries for code, n in s["statuses"].items() if 200 <= code < 300)
    seconds = max(float(s["seconds"]) for s in summaries)
    return {"ok": ok, "seconds": seconds, "p99": max(float(s["p99_ms"]) for s in summaries)}


def run_postgres() -> dict[str, Any]:
    """The ``claims_pg`` line: two API processes on PostgreSQL (see the module doc)."""
    if shutil.which("wrk") is None:
        return {"bench": "claims_pg", "error": "wrk is not installed (./run bench installs it)"}
    with (
        tempfile.TemporaryDirectory(prefix="tsunagari-bench-claims-pg-") as tmp,
        _pg_schema() as url,
        running_stack(
            Path(tmp),
            services=("api", "api2"),
            settings={"TSUNAGARI_CHECKIN__RATE_IP_PER_MIN": "0"},
            db_url=url,
        ) as stack,
    ):
        workdir = Path(tmp)
        ports = (stack.api_port, stack.api2_port)
        kiosk = stack.kiosk_url()
        signing = stack.signing
        for port in ports:  # warm both processes
            warm = presign(signing, stack.current_token(kiosk), stack.activity_id, 40, f"warm-{port}")
            asyncio.run(load(port, [_request("POST", "/api/v1/claims", port, b) for b in warm], 4, 8))
            asyncio.run(load(port, _request("GET", "/health", port), 2, 8))
        bare = _drive_both(ports, None, workdir)
        bare_rps = bare["ok"] / bare["seconds"]
        _log(f"postgres bare: {bare_rps:.0f} req/s p99 {bare['p99']:.1f} ms")
        token = stack.current_token(kiosk)
        bodies = presign(signing, token, stack.activity_id, int(max(bare_rps, 1000) * DURATION_S * 1.2), "pg-flood")
        before = set(stack.claims())
        claims = _drive_both(ports, bodies, workdir)
        claims_rps = claims["ok"] / claims["seconds"]
        _log(f"postgres claims: {claims_rps:.0f}/s p99 {claims['p99']:.1f} ms")
        accepted = sorted(set(stack.claims()) - before)
        if not claims["ok"] <= len(accepted) <= claims["ok"] + CONCURRENCY:
            raise AssertionError(f"{claims['ok']} claims answered 202 but {len(accepted)} new rows in the outbox")
        stack.start("relay")
        stack.start("index")
        stack.wait_until_settled(timeout_s=900)
        on_chain = stack.on_chain()
        return {
            "bench": "claims_pg",
            "db": "postgresql",
            "api_processes": 2,
            "concurrency": CONCURRENCY,
            "duration_s": DURATION_S,
            "bare_requests_per_s": round(bare_rps, 1),
            "claims_per_s": round(claims_rps, 1),
            "ratio": round(claims_rps / bare_rps, 3),
            "bare_p99_ms": round(bare["p99"], 2),
            "claim_p99_ms": round(claims["p99"], 2),
            "accepted": len(accepted),
            "lost": sum(1 for c in accepted if on_chain.get(c, 0) == 0),
            "duplicated": sum(1 for n in on_chain.values() if n > 1),
        }


def _run(stack: DevStack, workdir: Path) -> dict[str, Any]:
    port = stack.api_port
    _log(f"stack up at {stack.api_url}")
    kiosk = stack.kiosk_url()
    signing = stack.signing
    use_wrk = shutil.which("wrk") is not None
    generator = "wrk" if use_wrk else "python-asyncio"
    _log(f"load generator: {generator}")
    # Warm up both paths (imports, caches, the activity lookup) before measuring.
    warm = presign(signing, stack.current_token(kiosk), stack.activity_id, 50, "warm")
    asyncio.run(load(port, [_request("POST", "/api/v1/claims", port, b) for b in warm], 5, 8))
    asyncio.run(load(port, _request("GET", "/health", port), 2, 8))

    bare_ok, bare_s, _, bare_p99, bare_status = _drive(port, None, use_wrk, workdir)
    bare_rps = bare_ok / bare_s
    _log(f"bare: {bare_rps:.0f} req/s {bare_status} p99 {bare_p99:.1f} ms")

    token = stack.current_token(kiosk)
    count = int(max(bare_rps, 1000) * DURATION_S * 1.2)
    bodies = presign(signing, token, stack.activity_id, count, "flood")
    _log(f"pre-signed {len(bodies)} claims")
    before = set(stack.claims())
    ok, claims_s, p50, p99, statuses = _drive(port, bodies, use_wrk, workdir)
    claims_rps = ok / claims_s
    _log(f"claims: {claims_rps:.0f}/s {statuses} p50 {p50:.1f} ms p99 {p99:.1f} ms")
    # Every 202 is a committed row of the outbox, so count the rows. There can be a few more rows
    # than 202s seen (at most one per connection): requests in flight when the generator stopped,
    # committed after it stopped listening. Those are accepted claims too and must reach the chain.
    accepted_ids = sorted(set(stack.claims()) - before)
    if not ok <= len(accepted_ids) <= ok + CONCURRENCY:
        raise AssertionError(f"{ok} claims answered 202 but {len(accepted_ids)} new rows in the outbox")

    drain_started = time.monotonic()
    stack.start("relay")  # the outbox is drained after the flood (the API alone had the CPU)
    stack.start("index")
    stack.wait_until_settled(timeout_s=600)
    flood_drain_s = time.monotonic() - drain_started
    _log(f"drained in {flood_drain_s:.1f} s")

    # Festival pace on a fresh activity.
    now = int(time.time())
    pace_activity = stack.client.register_activity(
        dev_account(2), ActivitySpec(TATEYAMA, ContributionKind.FESTIVAL_EVENT, 300, now - 60, now + 3600, 0)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the API can see it (indexer or chain)
        if (
            httpx.post(
                f"{stack.api_url}/api/v1/activities/{pace_activity}/kiosk",
                headers={"Authorization": f"Bearer {stack.operator_key}"},
                timeout=10,
            ).status_code
            == 200
        ):
            break
        time.sleep(0.5)
    pace_kiosk = stack.kiosk_url(pace_activity)
    pace_bodies = presign(signing, stack.current_token(pace_kiosk), pace_activity, int(PACE_PER_S * PACE_S), "pace")
    pace_answered = asyncio.run(paced(port, pace_bodies, PACE_PER_S))
    stack.wait_until_settled(timeout_s=300)
    sent_at = {int(json.loads(body)["claim_id"]): wall for wall, body in pace_answered}
    confirmed = _confirmed_at(stack, list(sent_at))
    scan_to_confirmed = [confirmed[c] / 1000 - sent_at[c] for c in sent_at if c in confirmed]
    _log(f"festival pace: {len(pace_answered)} claims, p95 scan→confirmed {_pct(scan_to_confirmed, 95):.2f} s")

    claims = stack.claims()
    on_chain = stack.on_chain()
    every_accepted = set(accepted_ids) | set(sent_at)
    lost = sum(1 for c in every_accepted if on_chain.get(c, 0) == 0)
    duplicated = sum(1 for n in on_chain.values() if n > 1)
    return {
        "bench": "claims",
        "concurrency": CONCURRENCY,
        "api_workers": WORKERS,
        "load_generator": generator,
        "duration_s": DURATION_S,
        "bare_requests_per_s": round(bare_rps, 1),
        "claims_per_s": round(claims_rps, 1),
        "ratio": round(claims_rps / bare_rps, 3),
        "bare_p99_ms": round(bare_p99, 2),
        "claim_p50_ms": round(p50, 2),
        "claim_p99_ms": round(p99, 2),
        "accepted": len(every_accepted),
        "on_chain": sum(1 for c in every_accepted if on_chain.get(c, 0) > 0),
        "rejected_by_chain": sum(1 for _, status in claims.values() if status == "rejected"),
        "lost": lost,
        "duplicated": duplicated,
        "flood_drain_s": round(flood_drain_s, 1),
        "pace_claims_per_s": PACE_PER_S,
        "scan_to_confirmed_p50_s": round(_pct(scan_to_confirmed, 50), 2),
        "scan_to_confirmed_p95_s": round(_pct(scan_to_confirmed, 95), 2),
    }
