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

__all__ = ["SimulationResult", "simulate_checkins"]


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
    body = {
        "token": token,
        "participant": person.address,
        "requested_at": int(scanned),
        "signature": "0x" + signature.removeprefix("0x"),
        "activity_id": activity_id,
    }
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
