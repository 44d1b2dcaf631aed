"""Activity certificates (活動証明書) and the holder proof's mailbox (docs/certificate.md).

- ``GET /api/v1/people/{address}/certificate``: the unsigned certificate of a person's live records
  in one municipality, with the EIP-712 document the browser key signs;
- ``POST /api/v1/certificates``: the signed certificate, kept so its PDF's QR code can link to it
  (the signature must be the holder's and every line one of the holder's records in our index);
- ``GET /api/v1/certificates/{id}`` (JSON, ``?download=1`` as a file) and ``…/pdf``;
- ``GET /api/v1/holder-proofs/typed-data``, ``POST /api/v1/presentations``,
  ``GET /api/v1/presentations/{nonce}``: a participant's signed answer to a verifier's challenge,
  kept 15 minutes. We are only the mailbox: the verifier checks the signature itself, so a server
  that lied could withhold an answer but never forge one.

Certificates and presentations are readable cross-origin (``Access-Control-Allow-Origin: *``): the
standalone verifier opened from disk has the origin ``null``.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Annotated, Any, Final

import orjson
from eth_utils.address import is_address, to_checksum_address
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import text

from api.deps import ChainDep, ConnDep, Day, EngineDep, RegionQuery, SettingsDep
from api.errors import ApiError, problems
from ledger.certificate.issue import CertificateRequestError, draft_certificate
from ledger.certificate.model import (
    MAX_BYTES,
    Certificate,
    CertificateFormatError,
    day_int,
    jis_code,
    parse_certificate,
)
from ledger.certificate.typed import certificate_typed_data, holder_proof_typed_data, recover_typed
from ledger.checkin.service import public_base_url
from ledger.db.engine import write_transaction

__all__ = ["PRESENTATION_TTL_S", "UPLOAD_ALLOWANCES", "router"]

PRESENTATION_TTL_S: Final = 15 * 60
MAX_PRESENTATIONS_PER_NONCE: Final = 5
UPLOAD_ALLOWANCES: Final = ((r"/api/v1/certificates", MAX_BYTES),)
_CERTIFICATE_ID = re.compile(r"^[0-9a-f]{64}$")
_NONCE = re.compile(r"^0x[0-9a-fA-F]{64}$")
_CORS: Final = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, OPTIONS"}

router = APIRouter(tags=["certificates"])


def _address(value: str) -> str:
    if not is_address(value):
        raise ApiError(422, "invalid_address", f"{value!r} is not an Ethereum address")
    return str(to_checksum_address(value))


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json", headers=headers)


@router.get(
    "/api/v1/people/{address}/certificate",
    summary="The unsigned activity certificate of a person in one municipality, and what to sign",
)
def certificate_draft(
    address: str,
    conn: ConnDep,
    chain: ChainDep,
    settings: SettingsDep,
    region: Annotated[RegionQuery, Query(description="the municipality's JIS code, five digits (e.g. 12205)")],
    from_: Annotated[Day | None, Query(alias="from", description="first JST day (default: 12 months ago)")] = None,
    to: Annotated[Day | None, Query(description="last JST day (default: today)")] = None,
) -> Response:
    holder = _address(address)
    try:
        certificate = draft_certificate(
            conn,
            holder=holder,
            region=region,
            chain_id=chain.chain_id,
            ledger=chain.deployment.ledger,
            from_day=from_,
            to_day=to,
            site=public_base_url(settings),
            rpc_hint=settings.chain.browser_rpc_url,
        )
    except CertificateRequestError as exc:
        raise ApiError(422, "certificate_request", str(exc)) from None
    return _json({"certificate": certificate.to_json(), "typed_data": certificate_typed_data(certificate)})


def _check_against_index(conn: Any, certificate: Certificate) -> None:
    """Every line is one of the holder's records in the certificate's region, as our index has it."""
    for number, record in enumerate(certificate.records, start=1):
        row = conn.execute(
            text(
                "SELECT participant, region, activity_id, block_hash FROM contributions"
                " WHERE chain_id = :c AND tx_hash = :t AND log_index = :i"  # the log's unique index
            ),
            {"c": certificate.chain_id, "t": record.tx_hash, "i": record.log_index},
        ).first()
        if (
            row is None
            or row.participant != certificate.holder.lower()
            or int(row.region) != certificate.municipality.region
            or int(row.activity_id) != record.activity_id
            or str(row.block_hash).lower() != record.block_hash
        ):
            raise ApiError(
                422,
                "certificate_invalid",
                f"line {number} is not one of {certificate.holder}'s records"
                f" in {jis_code(certificate.municipality.region)}",
            )


@router.post(
    "/api/v1/certificates",
    status_code=201,
    summary="Keep a signed certificate (for its QR link)",
    responses=problems(422),  # the route reads its body itself: certificate_invalid, signature_invalid
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the signed certificate JSON (docs/certificate.md), at most 2 MB",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def certificate_keep(request: Request, engine: EngineDep, chain: ChainDep) -> Response:
    body = await request.body()
    try:
        certificate = parse_certificate(body)
    except CertificateFormatError as exc:
        raise ApiError(422, "certificate_invalid", str(exc)) from None
    if certificate.signature is None:
        raise ApiError(422, "signature_invalid", "the certificate is not signed: sign it with the holder's key")
    signer = recover_typed(certificate_typed_data(certificate), certificate.signature)
    if signer is None or signer.lower() != certificate.holder.lower():
        raise ApiError(422, "signature_invalid", f"the signature is not {certificate.holder}'s (signed by {signer})")
    if certificate.chain_id != chain.chain_id or certificate.ledger.lower() != chain.deployment.ledger.lower():
        raise ApiError(422, "certificate_invalid", "the certificate is of another chain or ledger")
    document = certificate.to_bytes()
    certificate_id = hashlib.sha256(document).hexdigest()
    with write_transaction(engine) as conn:
        _check_against_index(conn, certificate)
        conn.execute(
            text(
                "INSERT INTO certificates (certificate_id, holder, region, from_day, to_day, document, created_at)"
                " VALUES (:id, :h, :r, :f, :t, :d, :c) ON CONFLICT DO NOTHING"
            ),
            {
                "id": certificate_id,
                "h": certificate.holder.lower(),
                "r": certificate.municipality.region,
                "f": day_int(certificate.from_day),
                "t": day_int(certificate.to_day),
                "d": document.decode(),
                "c": int(time.time()),
            },
        )
    return _json(
        {
            "certificate_id": certificate_id,
            "json_url": f"/api/v1/certificates/{certificate_id}?download=1",
            "pdf_url": f"/api/v1/certificates/{certificate_id}/pdf",
            "verify_url": f"/verify/certificate?c={certificate_id}",
        },
        status=201,
    )


def _stored(conn: Any, certificate_id: str) -> Certificate:
    if not _CERTIFICATE_ID.match(certificate_id):
        raise ApiError(404, "not_found", "no such certificate")
    row = conn.execute(
        text("SELECT document FROM certificates WHERE certificate_id = :id"), {"id": certificate_id}
    ).first()
    if row is None:
        raise ApiError(404, "not_found", "no such certificate")
    return parse_certificate(str(row.document))


@router.get("/api/v1/certificates/{certificate_id}", summary="A kept certificate (JSON)", responses=problems(404))
def certificate_get(
    certificate_id: Annotated[str, PathParam(max_length=64)],
    conn: ConnDep,
    download: Annotated[bool, Query(description="as a file to save")] = False,
) -> Response:
    certificate = _stored(conn, certificate_id)
    headers = dict(_CORS)
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{certificate.file_name("json")}"'
    return Response(certificate.to_bytes(), media_type="application/json", headers=headers)


@router.get(
    "/api/v1/certificates/{certificate_id}/pdf",
    summary="A kept certificate as a printable PDF",
    responses=problems(404),
)
def certificate_pdf(
    certificate_id: Annotated[str, PathParam(max_length=64)],
    conn: ConnDep,
    settings: SettingsDep,
    lang: Annotated[str, Query(pattern="^(ja|en)$")] = "ja",
) -> Response:
    from ledger.certificate.pdf import render_certificate_pdf  # WeasyPrint is heavy: load on first use

    certificate = _stored(conn, certificate_id)
    verify_url = f"{public_base_url(settings)}/verify/certificate?c={certificate_id}"
    pdf = render_certificate_pdf(certificate, verify_url=verify_url, lang=lang)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{certificate.file_name("pdf")}"'},
    )


# ---------------------------------------------------------------------------------------------
# The holder proof's mailbox
# ---------------------------------------------------------------------------------------------


def _nonce(value: str) -> str:
    if not _NONCE.match(value):
        raise ApiError(422, "invalid_nonce", "a challenge nonce is 0x and 64 hex digits")
    return value.lower()


@router.get("/api/v1/holder-proofs/typed-data", summary="The EIP-712 HolderProof a participant signs")
def holder_proof_document(
    chain: ChainDep,
    holder: str,
    nonce: str,
    expires_at: Annotated[int, Query(ge=0, le=2**63)],
    audience: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    return _json(
        holder_proof_typed_data(
            chain.chain_id, chain.deployment.ledger, _address(holder), _nonce(nonce), expires_at, audience
        )
    )


class PresentationBody(BaseModel):
    holder: str = Field(description="the participant's address")
    nonce: str = Field(description="the challenge's nonce, 0x + 64 hex")
    expires_at: int = Field(ge=0, le=2**63, description="the challenge's expiry, unix seconds")
    audience: str = Field(max_length=200, description="who asked (shown on the participant's page)")
    signature: str = Field(max_length=200, description="EIP-712 HolderProof signature, 0x hex")


@router.post("/api/v1/presentations", status_code=201, summary="A participant's answer to a verifier's challenge")
def presentation_post(body: PresentationBody, engine: EngineDep, chain: ChainDep) -> Response:
    holder = _address(body.holder)
    nonce = _nonce(body.nonce)
    now = int(time.time())
    if body.expires_at < now:
        raise ApiError(422, "challenge_expired", "the verifier's challenge has expired: ask for a new QR code")
    if body.expires_at > now + PRESENTATION_TTL_S:
        raise ApiError(422, "challenge_invalid", "a challenge is valid for at most 15 minutes")
    document = holder_proof_typed_data(
        chain.chain_id, chain.deployment.ledger, holder, nonce, body.expires_at, body.audience
    )
    signer = recover_typed(document, body.signature)
    if signer is None or signer.lower() != holder.lower():
        raise ApiError(422, "signature_invalid", f"the signature is not {holder}'s")
    stored = {
        "holder": holder,
        "nonce": nonce,
        "expires_at": body.expires_at,
        "audience": body.audience,
        "signature": body.signature.lower(),
    }
    with write_transaction(engine) as conn:
        conn.execute(text("DELETE FROM holder_presentations WHERE created_at < :t"), {"t": now - PRESENTATION_TTL_S})
        count = conn.execute(
            text("SELECT COUNT(*) FROM holder_presentations WHERE nonce = :n"), {"n": nonce}
        ).scalar_one()
        if count >= MAX_PRESENTATIONS_PER_NONCE:
            raise ApiError(429, "too_many_answers", "this challenge has had its answers: ask for a new QR code")
        conn.execute(
            text("INSERT INTO holder_presentations (nonce, holder, body, created_at) VALUES (:n, :h, :b, :c)"),
            {"n": nonce, "h": holder, "b": orjson.dumps(stored).decode(), "c": now},
        )
    return _json({"nonce": nonce, "holder": holder}, status=201)


@router.get("/api/v1/presentations/{nonce}", summary="The answers to a challenge (for the verifier)")
def presentation_get(nonce: str, conn: ConnDep) -> Response:
    rows = conn.execute(
        text("SELECT body FROM holder_presentations WHERE nonce = :n AND created_at >= :t ORDER BY presentation_id"),
        {"n": _nonce(nonce), "t": int(time.time()) - PRESENTATION_TTL_S},
    ).all()
    return _json({"presentations": [orjson.loads(row.body) for row in rows]}, headers=_CORS)


@router.options("/api/v1/presentations/{nonce}", include_in_schema=False)
@router.options("/api/v1/certificates/{certificate_id}", include_in_schema=False)
def preflight() -> Response:
    return Response(status_code=204, headers={**_CORS, "Access-Control-Max-Age": "600"})
