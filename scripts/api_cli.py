"""``tsunagari api``: serve the HTTP API, and its API keys."""

from __future__ import annotations

from typing import Annotated

import typer

from ledger.municipalities import jis_code
from ledger.settings import get_settings
from scripts.cli_common import JsonFlag, emit, fail, guarded
from scripts.format_cli import region_code, region_text, table, when

api_app = typer.Typer(help="The HTTP API and API keys.", no_args_is_help=True)

__all__ = ["api_app"]


@api_app.command("serve")
def api_serve(
    host: Annotated[str | None, typer.Option(help="listen address (default api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="listen port (default api.port)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Serve the HTTP API (pages, check-in, dashboards, export) with uvicorn after migrating the database."""
    import uvicorn

    from api.app import create_serving_app
    from ledger.db.engine import make_engine, upgrade_to_head

    settings = get_settings()
    guarded(lambda: upgrade_to_head(make_engine(settings.db.url)))
    host, port = host or settings.api.host, port or settings.api.port
    if workers > 1:  # each worker builds its own app from the same environment
        uvicorn.run(
            "api.app:create_serving_app", factory=True, host=host, port=port, workers=workers, access_log=access_log
        )
    else:
        uvicorn.run(create_serving_app(settings), host=host, port=port, log_level="info", access_log=access_log)


@api_app.command("key-create")
def api_key_create(
    role: Annotated[str, typer.Option(help="operator (one region), researcher or platform")],
    label: Annotated[str, typer.Option(help="who or what the key is for")],
    region: Annotated[
        int | None, typer.Option(parser=region_code, metavar="CODE", help="region the key is scoped to")
    ] = None,
) -> None:
    """Create an API key; it is printed once and only its hash is stored."""
    from ledger.auth import create_api_key
    from ledger.db.engine import make_engine, upgrade_to_head, write_transaction

    engine = make_engine(get_settings().db.url)
    guarded(lambda: upgrade_to_head(engine))
    with write_transaction(engine) as conn:
        key, credential = guarded(lambda: create_api_key(conn, role, label, region))  # type: ignore[arg-type]
    typer.echo(key)
    typer.echo(
        f"key {credential.key_id}: {credential.role}, region "
        f"{region_text(credential.region) if credential.region else 'all'} (store it now)",
        err=True,
    )


@api_app.command("key-list")
def api_key_list(as_json: JsonFlag = False) -> None:
    """Every API key (ids, roles, scopes; never secrets)."""
    from ledger.auth import list_api_keys
    from ledger.db.engine import make_engine

    with make_engine(get_settings().db.url).connect() as conn:
        keys = guarded(lambda: list_api_keys(conn))
    rows = [
        {
            "key_id": c.key_id,
            "label": c.label,
            "role": c.role,
            "region": None if c.region is None else jis_code(c.region),
            "created_at": t,
            "revoked_at": r,
        }
        for c, t, r in keys
    ]
    if as_json:
        emit(rows, True)
        return
    typer.echo(
        table(
            ("key", "label", "role", "region", "created", "revoked"),
            [
                (
                    c.key_id,
                    c.label,
                    c.role,
                    region_text(c.region) if c.region else "all",
                    when(t),
                    when(None if r is None else int(r)),
                )
                for c, t, r in keys
            ],
        )
    )


@api_app.command("key-revoke")
def api_key_revoke(key_id: str) -> None:
    """Revoke an API key by its id."""
    from ledger.auth import revoke_api_key
    from ledger.db.engine import make_engine, write_transaction

    with write_transaction(make_engine(get_settings().db.url)) as conn:
        revoked = revoke_api_key(conn, key_id)
    if not revoked:
        fail(f"no live key {key_id}")
    typer.echo(f"key {key_id} revoked")
