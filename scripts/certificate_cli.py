"""``tsunagari certificate``: activity certificates for ふるさと住民登録 from the command line
(docs/certificate.md).

- ``issue ADDRESS --region CODE``: a participant's certificate from the index (JSON, and a PDF with
  ``--pdf``); signed only when the holder's key is given in an environment variable (an operator
  normally has no participant's key: the certificate is then unsigned, and verifiers say so);
- ``verify FILE``: every line against a JSON-RPC endpoint, the Premium verdict and its reasons;
  exit code 0 when the certificate is valid, 1 when it is not (or cannot be checked);
- ``verifier --out FILE``: the standalone verifier page, one HTML file that works from disk;
- ``eligible --region CODE``: who is eligible for Premium in a region, and until when.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.errors import TsunagariError
from scripts.cli_common import fail as _fail
from scripts.format_cli import RegionOption, region_text, table

certificate_app = typer.Typer(
    help="Activity certificates (活動証明書) for ふるさと住民登録: issue, verify, the standalone verifier.",
    no_args_is_help=True,
)

__all__ = ["certificate_app"]


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} must be a date YYYY-MM-DD, not {value!r}")
    raise AssertionError("unreachable")


@certificate_app.command("issue")
def certificate_issue(
    address: Annotated[str, typer.Argument(help="the participant's address")],
    region: RegionOption,
    from_: Annotated[
        str | None, typer.Option("--from", help="first JST day, YYYY-MM-DD (default: 12 months ago)")
    ] = None,
    to: Annotated[str | None, typer.Option(help="last JST day, YYYY-MM-DD (default: today)")] = None,
    out: Annotated[Path | None, typer.Option(help="where to write the JSON (default: a name in this folder)")] = None,
    pdf: Annotated[Path | None, typer.Option(help="also write the printable PDF here")] = None,
    key_env: Annotated[
        str | None, typer.Option(help="environment variable holding the holder's private key (hex): signs it")
    ] = None,
) -> None:
    """Write a participant's activity certificate for one municipality (from the index)."""
    from eth_utils.address import is_address

    from ledger.certificate.issue import draft_certificate
    from ledger.certificate.typed import certificate_typed_data, recover_typed, sign_typed
    from ledger.chain.context import open_chain
    from ledger.checkin.service import public_base_url
    from ledger.db.engine import make_engine
    from ledger.settings import get_settings

    if not is_address(address):
        _fail(f"{address!r} is not an address")
    settings = get_settings()
    try:
        chain = open_chain(settings)
        engine = make_engine(settings.db.url)
        with engine.connect() as conn:
            certificate = draft_certificate(
                conn,
                holder=address,
                region=region,
                chain_id=chain.chain_id,
                ledger=chain.deployment.ledger,
                from_day=_day(from_, "--from"),
                to_day=_day(to, "--to"),
                site=public_base_url(settings),
                rpc_hint=settings.chain.browser_rpc_url,
            )
        engine.dispose()
    except TsunagariError as exc:
        _fail(str(exc))
        return
    if key_env:
        key = os.environ.get(key_env, "")
        if not key:
            _fail(f"set {key_env} to the holder's private key (hex)")
        try:
            signature = sign_typed(certificate_typed_data(certificate), key)
        except (ValueError, TypeError):
            _fail(f"{key_env} does not hold a private key")
            return
        signed = certificate.signed(signature)
        if (recover_typed(certificate_typed_data(signed), signature) or "").lower() != certificate.holder.lower():
            _fail(f"the key in {key_env} is not {certificate.holder}'s")
        certificate = signed
    path = out or Path(certificate.file_name("json"))
    path.write_bytes(certificate.to_bytes())
    summary = certificate.summary
    typer.echo(f"wrote {path}: {len(certificate.records)} records, {summary.get('text')}")
    if certificate.signature is None:
        typer.echo("unsigned: verifiers will say so (the holder signs on their つながり page, or give --key-env)")
    if pdf is not None:
        from ledger.certificate.pdf import render_certificate_pdf

        verify_url = f"{public_base_url(settings)}/verify/certificate"
        pdf.write_bytes(render_certificate_pdf(certificate, verify_url=verify_url))
        typer.echo(f"wrote {pdf}")


def _trusted_ledger(chain_id: int, given: str | None) -> str | None:
    """``--ledger``, else this machine's deployment for ``chain_id`` (if there is one)."""
    if given:
        return given
    from ledger.chain.deploy import load_deployment
    from ledger.settings import get_settings

    try:
        return load_deployment(get_settings().chain.deployments_dir, chain_id).ledger
    except TsunagariError:
        return None


@certificate_app.command("verify")
def certificate_verify(
    file: Annotated[Path, typer.Argument(help="a certificate (.json)")],
    rpc: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain (default chain.rpc_url)")] = None,
    ledger: Annotated[
        str | None, typer.Option(help="the ledger address you trust (default: this machine's deployment)")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="the day the verdict is for, YYYY-MM-DD (default: today, JST)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check every line of a certificate against the chain, and give the Premium verdict."""
    from ledger.certificate.issue import today_jst
    from ledger.certificate.model import CertificateFormatError, parse_certificate
    from ledger.certificate.verify import verify_certificate
    from ledger.indexer.rpc import HttpJsonRpc
    from ledger.settings import get_settings

    if not file.is_file():
        _fail(f"{file} is not a file")
    try:
        certificate = parse_certificate(file.read_bytes())
    except CertificateFormatError as exc:
        _fail(f"{file} is not a valid certificate: {exc}")
        return
    trusted = _trusted_ledger(certificate.chain_id, ledger)
    if trusted is None:
        _fail(
            f"no ledger to trust for chain {certificate.chain_id}: pass --ledger with the address the platform "
            "publishes (a certificate's own ledger address proves nothing)"
        )
    client = HttpJsonRpc(rpc or get_settings().chain.rpc_url)
    try:
        report = verify_certificate(
            certificate, client, trusted_ledger=trusted, as_of=_day(as_of, "--as-of") or today_jst()
        )
    finally:
        client.close()
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    if not report.valid:
        raise typer.Exit(code=1)


def _print_report(report: Any) -> None:
    c = report.certificate
    typer.echo(f"certificate of {c.holder} in {c.municipality.code} {c.municipality.name or ''}".rstrip())
    typer.echo(f"days {c.from_day} – {c.to_day} (JST); chain {c.chain_id}, ledger {c.ledger}")
    if report.block_number is not None:
        typer.echo(f"checked at block {report.block_number} ({report.block_hash})")
    for problem in report.problems:
        typer.echo(f"PROBLEM {problem.code}: {problem.message}")
    for line in report.lines:
        typer.echo(line.text())
    verdict = "VALID" if report.valid else "NOT VALID"
    premium = "yes" if report.premium else "no"
    typer.echo(f"{verdict}; Premium (ふるさと住民登録, as of {report.as_of}): {premium}")
    for reason in report.reasons():
        typer.echo(f"  - {reason}")
    if report.verdict is not None and report.verdict.eligible_until is not None and report.valid:
        typer.echo(f"  - eligible until {report.verdict.eligible_until} unless they take part again")


@certificate_app.command("verifier")
def certificate_verifier(
    out: Annotated[Path, typer.Option(help="where to write the HTML file")] = Path("tsunagari-verifier.html"),
    ledger: Annotated[str | None, typer.Option(help="the ledger to trust (default: this machine's deployment)")] = None,
    chain_id: Annotated[int | None, typer.Option(help="its chain id (default: the deployment's)")] = None,
) -> None:
    """Write the standalone verifier page: one HTML file that verifies certificates from disk."""
    from ledger.certificate.standalone import build_verifier_html
    from ledger.chain.deploy import local_deployment
    from ledger.checkin.service import public_base_url
    from ledger.settings import get_settings

    settings = get_settings()
    if ledger is None:
        try:
            deployment = local_deployment(settings.chain.deployments_dir, chain_id)
            ledger, chain_id = deployment.ledger, deployment.chain_id
        except TsunagariError:
            ledger = None
    html = build_verifier_html(
        chain_id=chain_id,
        ledger=ledger,
        rpc_url=settings.chain.browser_rpc_url,
        site=public_base_url(settings),
    )
    out.write_text(html, encoding="utf-8")
    trusted = f"trusting ledger {ledger} on chain {chain_id}" if ledger else "with no trusted ledger preset"
    typer.echo(f"wrote {out} ({len(html.encode()) // 1024} KiB), {trusted}")


@certificate_app.command("eligible")
def certificate_eligible(
    region: RegionOption,
    as_of: Annotated[str | None, typer.Option(help="the day, YYYY-MM-DD (default: today, JST)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Who is eligible for ふるさと住民登録 Premium in a region (≥ 3 designated activities in 12 months)."""
    from ledger.certificate.issue import today_jst
    from ledger.certificate.roster import eligibility_roster
    from ledger.db.engine import make_engine
    from ledger.settings import get_settings

    engine = make_engine(get_settings().db.url)
    day = _day(as_of, "--as-of") or today_jst()
    try:
        with engine.connect() as conn:
            rows = eligibility_roster(conn, region, day)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps([_row_json(r) for r in rows], ensure_ascii=False, default=str))
        return
    eligible = [r for r in rows if r.eligible]
    close = len(rows) - len(eligible)
    typer.echo(f"{region_text(region)} as of {day} (JST): {len(eligible)} eligible, {close} close (2 of 3)")
    if rows:
        typer.echo(
            table(
                ("participant", "designated activities", "eligible until (JST day)"),
                [
                    (r.participant, r.designated, r.eligible_until if r.eligible else "- (one more makes it)")
                    for r in rows
                ],
                (False, True, False),
            )
        )


def _row_json(row: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(row).items() if k != "contact"}
