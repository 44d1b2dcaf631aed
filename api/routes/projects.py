"""Operator endpoints for support projects (the console's project pages call the same functions,
ledger/console/projects.py), and the public image of a project.

Every operator call is authorised by :data:`api.deps.ActorDep` (an API key or the console session
with its CSRF token) and scoped to the project's region: another region's caller gets 403
``wrong_region``. A viewer may read; creating, editing and closing need the ``projects`` permission.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ActorDep, ChainDep, ConnDep, EngineDep, RegionCode, client_ip
from api.errors import ApiError
from ledger.chain.context import ChainContext
from ledger.console import projects as ops
from ledger.console.projects import MAX_DESCRIPTION, MAX_GOAL, MAX_IMAGE_BYTES, MAX_NAME

router = APIRouter(tags=["operator"])

ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1, description="on-chain project id")]

# The routes that take an image upload, and their body limit (api/limits.py): the image's 1 MiB
# plus room for the form's other fields and the multipart framing. The routes check the image
# itself (at most 1 MiB, else 413; PNG or JPEG by its bytes, else 422).
_UPLOAD_LIMIT: Final = MAX_IMAGE_BYTES + 64 * 1024
UPLOAD_ALLOWANCES: Final = (
    (r"/api/v1/projects/[0-9]{1,19}/image", _UPLOAD_LIMIT),
    (r"/console/regions/[0-9]{1,6}/projects", _UPLOAD_LIMIT),
    (r"/console/regions/[0-9]{1,6}/projects/[0-9]{1,19}/image", _UPLOAD_LIMIT),
)


@contextmanager
def project_errors() -> Iterator[None]:
    """Unknown project -> 404, an image over 1 MiB -> 413 (other ``ValueError`` -> 422 as usual)."""
    try:
        yield
    except ops.ProjectNotFound as exc:
        raise ApiError(404, "unknown_project", str(exc)) from None
    except ops.ImageTooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from None


class ProjectCreate(BaseModel):
    """A new project. Its name and description are kept off chain; the chain stores the keccak256
    of their canonical JSON. No personal data."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    goal: int = Field(0, ge=0, le=MAX_GOAL, description="coins the project hopes to raise (0: no goal)")


class ProjectPatch(BaseModel):
    """What to change: the text (a new metadata hash on chain) and/or the goal (local)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    goal: int | None = Field(None, ge=0, le=MAX_GOAL)


@router.post("/api/v1/regions/{region}/projects", status_code=201, summary="Register a support project on chain")
def create_project(
    request: Request, region: RegionCode, body: ProjectCreate, actor: ActorDep, chain: ChainDep, engine: EngineDep
) -> dict[str, Any]:
    actor.require("projects", region)
    with project_errors():
        return ops.create_project(
            engine,
            actor,
            chain,
            region,
            name=body.name,
            description=body.description,
            goal=body.goal,
            client=client_ip(request),
        )


@router.get(
    "/api/v1/regions/{region}/projects/details",
    summary="A region's projects for its staff: exact supporters and coins, goal and image",
    description="The public `GET /api/v1/regions/{region}/projects` (dashboard) keeps its small-cell suppression; "
    "this one answers only the region's staff and operator keys.",
)
def region_projects(region: RegionCode, actor: ActorDep, conn: ConnDep) -> list[dict[str, Any]]:
    return [p.as_json() for p in ops.list_projects(conn, actor, region)]


@router.get("/api/v1/projects/{project_id}", summary="One project (staff view: exact numbers)")
def get_project(project_id: ProjectId, actor: ActorDep, conn: ConnDep, chain: ChainDep) -> dict[str, Any]:
    with project_errors():
        project = ops.load_project(conn, project_id, chain)
    actor.require("read", project.region)
    return project.as_json()


@router.patch("/api/v1/projects/{project_id}", summary="Edit a project's text (on chain) and goal")
def patch_project(
    request: Request, project_id: ProjectId, body: ProjectPatch, actor: ActorDep, chain: ChainDep, engine: EngineDep
) -> dict[str, Any]:
    with project_errors():
        with engine.connect() as conn:
            project = ops.load_project(conn, project_id, chain)
        actor.require("projects", project.region)
        changed: dict[str, Any] = {}
        if body.name is not None or body.description is not None:
            result = ops.edit_text(
                engine,
                actor,
                chain,
                project_id,
                name=body.name if body.name is not None else project.name or "",
                description=body.description if body.description is not None else project.description,
                client=client_ip(request),
            )
            changed["text"] = result
        if body.goal is not None and body.goal != project.goal:
            ops.set_goal(engine, actor, project_id, body.goal, chain, client_ip(request))
            changed["goal"] = body.goal
        with engine.connect() as conn:
            return {**ops.load_project(conn, project_id, chain).as_json(), "changed": changed}


@router.post("/api/v1/projects/{project_id}/close", summary="Close a project: no further support")
def close_project(
    request: Request, project_id: ProjectId, actor: ActorDep, chain: ChainDep, engine: EngineDep
) -> dict[str, Any]:
    with project_errors():
        return ops.close_project(engine, actor, chain, project_id, client_ip(request))


@router.put(
    "/api/v1/projects/{project_id}/image",
    summary="Set a project's image: the body is the PNG or JPEG file (at most 1 MiB)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def put_image(request: Request, project_id: ProjectId, actor: ActorDep, engine: EngineDep) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(413, "too_large", f"an image is at most {MAX_IMAGE_BYTES} bytes (1 MiB)")
    if not data:
        raise ApiError(422, "invalid", "send the PNG or JPEG file as the request body")
    chain = _chain_if_any(request)
    with project_errors():
        project = await asyncio.to_thread(ops.set_image, engine, actor, project_id, data, chain, client_ip(request))
    return project.as_json()


@router.delete("/api/v1/projects/{project_id}/image", summary="Remove a project's image")
def delete_image(request: Request, project_id: ProjectId, actor: ActorDep, engine: EngineDep) -> dict[str, Any]:
    with project_errors():
        return ops.set_image(engine, actor, project_id, None, _chain_if_any(request), client_ip(request)).as_json()


def _chain_if_any(request: Request) -> ChainContext | None:
    """The app's chain if it is already open (a project not indexed yet is looked up there)."""
    chain: ChainContext | None = getattr(request.app.state, "chain", None)
    return chain


@router.get(
    "/projects/{project_id}/image",
    tags=["pages"],
    summary="A project's image (public; PNG or JPEG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}, 404: {"description": "no image"}},
)
def project_image(request: Request, project_id: ProjectId, conn: ConnDep) -> Response:
    found = ops.project_image(conn, project_id)
    if found is None:
        raise ApiError(404, "not_found", f"project {project_id} has no image")
    data, content_type, _ = found
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": f'inline; filename="project-{project_id}.{content_type.removeprefix("image/")}"',
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=content_type, headers=headers)
