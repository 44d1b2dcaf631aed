"""The researcher export over HTTP: the same dataset as ``tsunagari export``, streamed as a ZIP.

The ZIP is produced while it is sent (rows are read in chunks), so memory stays flat whatever the
size. Researcher and platform keys may export; so may a region's admin (an operator key or a
signed-in console account with the ``export`` permission), for its own region only. The salt
behind the person ids stays on the server: a researcher gets pseudonymous ids that
cannot be joined with another export, and can still verify counts and every non-personal field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import text
from starlette.background import BackgroundTask

from api.deps import ActorDep, Day, EngineDep, RegionQuery, SettingsDep
from api.errors import ApiError
from ledger.chain.deploy import load_deployment
from ledger.export import ExportOptions, stream_export_zip
from ledger.municipalities import jis_code

router = APIRouter(prefix="/api/v1/export", tags=["export"])


@router.get(
    "",
    summary="Download the export as a ZIP (researcher or platform key; a region admin: its region)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def download_export(
    actor: ActorDep,
    engine: EngineDep,
    settings: SettingsDep,
    format: Annotated[Literal["csv", "parquet", "jsonl"], Query(description="file format")] = "parquet",
    from_block: Annotated[int | None, Query(ge=0)] = None,
    to_block: Annotated[int | None, Query(ge=0)] = None,
    from_date: Annotated[Day | None, Query(description="first JST day")] = None,
    to_date: Annotated[Day | None, Query(description="last JST day")] = None,
    region: Annotated[
        list[RegionQuery] | None,
        Query(description="municipalities to keep, JIS codes of five digits such as 01634 (repeatable)"),
    ] = None,
    table: Annotated[list[str] | None, Query(description="tables to export (repeatable)")] = None,
) -> StreamingResponse:
    actor.require("export")
    regions = tuple(region) if region else None
    if actor.region is not None:  # a key or account scoped to a region exports that region only
        if regions is not None and set(regions) != {actor.region}:
            raise ApiError(403, "forbidden", f"this key may export region {jis_code(actor.region)} only")
        regions = (actor.region,)
    with engine.connect() as conn:
        chain_id = conn.execute(text("SELECT MIN(chain_id) FROM indexer_checkpoints")).scalar()
    if chain_id is None:
        raise ApiError(503, "not_indexed", "nothing is indexed yet")
    deployment = load_deployment(settings.chain.deployments_dir, int(chain_id))
    options = ExportOptions(
        format=format,
        from_block=from_block,
        to_block=to_block,
        from_date=from_date,
        to_date=to_date,
        regions=regions,
        tables=tuple(table) if table else None,
        k=settings.api.public_k,
    )
    stream = stream_export_zip(engine, deployment, options)
    filename = f"tsunagari-export-{chain_id}.zip"
    return StreamingResponse(
        iter(stream),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        background=BackgroundTask(stream.close),  # releases the database even if the client leaves early
    )
