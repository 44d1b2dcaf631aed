"""Simulated phones: scan a kiosk as many participants at once, the way the claim page does it.

Each phone reads the kiosk's current QR URL, asks the server what the code is for (the EIP-712
domain comes from the server, as on the page), signs the claim with its own key (deterministic from
``seed``, throwaway, devnet-style), posts it, retries the same signed body once on a network error,
and then follows its claim's status until it is confirmed on chain (or ``wait_s`` runs out).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

__all__ = ["SimulationResult", "simulate_checkins", "PacedResult", "paced_checkins"]


@dataclass
class SimulationResult:
    people: int
    statuses: dict[str, int] = field(default_factory=dict)  # HTTP answer codes: accepted / error codes
    final: dict[str, int] = field(default_factory=dict)  # claim status at the end
    accept_ms: list[float] = field(default_factory=list)
    scan_to_confirmed_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], p: float) -> float | None:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3) if ordered else None

        return {
            "people": self.people,
            "answers": self.statuses,
            "final": self.final,
            "accept_p50_ms": pct(self.accept_ms, 50),
            "accept_p95_ms": pct(self.accept_ms, 95),
            "scan_to_confirmed_p50_s": pct(self.scan_to_confirmed_s, 50),
            "scan_to_confirmed_p95_s": pct(self.scan_to_confirmed_s, 95),
        }


def _kiosk_parts(kiosk_url: str) -> tuple[str, int, str]:
    parts = urlsplit(kiosk_url)
    segments = parts.path.rstrip("/").split("/")
    session = parse_qs(parts.query).get("k", [""])[0]
    if len(segments) < 2 or segments[-2] != "kiosk" or not segments[-1].isdigit() or not session:
        raise ValueError(f"{kiosk_url!r} is not a kiosk URL (…/kiosk/<activity>?k=<session>)")
    return f"{parts.scheme}://{parts.netloc}", int(segments[-1]), session


def _claim_body(person: Any, token: str, context: dict[str, Any], scanned: float) -> dict[str, Any]:
    """What the claim page posts: the EIP-712 claim (domain from the server) signed by ``person``."""
    activity_id = int(context["activity"]["id"])
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **context["typed_data"]["types"],
        },
        "primaryType": "Claim",
        "domain": context["typed_data"]["domain"],
        "message": {
            "activityId": activity_id,
            "token": token,
            "participant": person.address,
            "requestedAt": int(scanned),
        },
    }
    signature = person.sign_message(encode_typed_data(full_message=typed)).signature.hex()
    return {
        "token": token,
        "participant": person.address,
        "requested_at": int(scanned),
        "signature": "0x" + signature.removeprefix("0x"),
        "activity_id": activity_id,
    }


async def _phone(
    http: httpx.AsyncClient, index: int, seed: str, token: str, result: SimulationResult, wait_s: float
) -> None:
    person = Account.from_key(keccak(text=f"{seed}-{index}"))
    scanned = time.time()
    context = (await http.get(f"/api/v1/checkin/{token}")).json()
    if "error" in context:
        code = str(context["error"]["code"])
        result.statuses[code] = result.statuses.get(code, 0) + 1
        return
    body = _claim_body(person, token, context, scanned)
    started = time.monotonic()
    answer: httpx.Response | None = None
    for _attempt in range(2):  # a phone retries the same signed body once when the network fails
        try:
            answer = await http.post("/api/v1/claims", json=body)
            break
        except httpx.HTTPError:
            await asyncio.sleep(1.0)
    if answer is None:
        result.statuses["network_error"] = result.statuses.get("network_error", 0) + 1
        return
    result.accept_ms.append((time.monotonic() - started) * 1000)
    payload = answer.json()
    if answer.status_code == 202:
        code, claim_id = "accepted", int(payload["claim_id"])
    else:
        code, claim_id = str(payload["error"]["code"]), payload["error"].get("claim_id")
    result.statuses[code] = result.statuses.get(code, 0) + 1
    if claim_id is None or wait_s <= 0:
        return
    deadline = time.monotonic() + wait_s
    status = "accepted"
    while time.monotonic() < deadline:
        status = str((await http.get(f"/api/v1/claims/{claim_id}")).json().get("status", "unknown"))
        if status in ("confirmed", "indexed", "rejected"):
            if status != "rejected" and code == "accepted":
                result.scan_to_confirmed_s.append(time.time() - scanned)
            break
        await asyncio.sleep(0.5)
    result.final[status] = result.final.get(status, 0) + 1


async def _simulate(kiosk_url: str, people: int, concurrency: int, seed: str, wait_s: float) -> SimulationResult:
    base, activity_id, session = _kiosk_parts(kiosk_url)
    result = SimulationResult(people=people)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        frame = await http.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": session})
        if frame.status_code != 200:
            raise ValueError(f"the kiosk answered {frame.status_code}: {frame.text[:200]}")
        if frame.json()["state"] != "open":
            raise ValueError(f"activity {activity_id} is {frame.json()['state']}, not open")
        token = str(frame.json()["claim_url"]).rsplit("/", 1)[1]
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                await _phone(http, index, seed, token, result, wait_s)

        await asyncio.gather(*(one(i) for i in range(people)))
    return result


def simulate_checkins(
    kiosk_url: str, people: int = 20, *, concurrency: int = 16, seed: str = "tsunagari-phone", wait_s: float = 60.0
) -> SimulationResult:
    """Scan ``kiosk_url`` as ``people`` phones, ``concurrency`` at a time."""
    return asyncio.run(_simulate(kiosk_url, people, concurrency, seed, wait_s))


@dataclass
class PacedResult:
    """Phones that scanned at a steady pace and kept trying until the server acknowledged them."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # participant address -> claim id
    refused: dict[str, str] = field(default_factory=dict)  # participant -> error code (final refusals)
    retries: int = 0


async def _paced_phone(
    http: httpx.AsyncClient, base: tuple[int, str], index: int, seed: str, give_up_s: float, result: PacedResult
) -> None:
    activity_id, session = base
    person = Account.from_key(keccak(text=f"{seed}-{index}"))
    deadline = time.monotonic() + give_up_s
    body: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        try:
            if body is None:  # scan: the kiosk's code now, what it is for, sign
                frame = (await http.get(f"/api/v1/kiosk/{activity_id}/frame", params={"k": session})).json()
                if not frame.get("claim_url") and frame.get("state") in ("full", "closed", "ended"):
                    result.refused[person.address.lower()] = f"activity_{frame['state']}"  # the kiosk shows no QR
                    return
                token = str(frame["claim_url"]).rsplit("/", 1)[1]
                context = (await http.get(f"/api/v1/checkin/{token}")).json()
                if "error" in context:
                    raise _Retry(str(context["error"]["code"]))
                body = _claim_body(person, token, context, time.time())
            answer = await http.post("/api/v1/claims", json=body)
        except (httpx.HTTPError, _Retry, KeyError, ValueError):
            result.retries += 1
            await asyncio.sleep(1.0)
            continue
        payload = answer.json()
        if answer.status_code == 202:
            result.acknowledged[person.address.lower()] = int(payload["claim_id"])
            return
        code = str(payload.get("error", {}).get("code", answer.status_code))
        if code in ("replayed_request", "already_claimed") and payload["error"].get("claim_id") is not None:
            result.acknowledged[person.address.lower()] = int(payload["error"]["claim_id"])
            return
        if code == "token_expired":
            body = None  # scan again
        elif answer.status_code < 500 and code not in ("rate_limited", "chain_unavailable"):
            result.refused[person.address.lower()] = code
            return
        result.retries += 1
        await asyncio.sleep(1.0)
    result.refused[person.address.lower()] = "gave_up"


class _Retry(Exception):
    pass


async def _paced(kiosk_url: str, people: int, per_s: float, seed: str, give_up_s: float) -> PacedResult:
    base, activity_id, session = _kiosk_parts(kiosk_url)
    result = PacedResult()
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        started = time.monotonic()
        tasks = []
        for index in range(people):
            delay = started + index / per_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            phone = _paced_phone(http, (activity_id, session), index, seed, give_up_s, result)
            tasks.append(asyncio.create_task(phone))
        await asyncio.gather(*tasks)
    return result


def paced_checkins(
    kiosk_url: str, people: int, *, per_s: float = 10.0, seed: str = "tsunagari-paced", give_up_s: float = 180.0
) -> PacedResult:
    """``people`` distinct phones scan ``kiosk_url`` at ``per_s`` a second; each keeps its signed claim
    and resends it (as the claim page does) until the server acknowledges it, rescanning if its
    code expired, for at most ``give_up_s``. Returns who was acknowledged with which claim id."""
    return asyncio.run(_paced(kiosk_url, people, per_s, seed, give_up_s))
