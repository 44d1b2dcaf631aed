"""Console pages: a region's support projects (応援プロジェクト).

Everyone of the region reads the list and each project with its exact supporters and coins raised
(the public pages keep their small-cell suppression); creating, editing, the goal, the image and
closing need the ``projects`` permission. The logic is ledger/console/projects.py, shared with the
JSON endpoints (api/routes/projects.py). The create and image forms are multipart; their routes
have a larger body limit for the image (``UPLOAD_ALLOWANCES`` there).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.deps import ChainDep, EngineDep, client_ip
from api.errors import ApiError
from api.routes.console.common import (
    ConsoleForm,
    ConsoleSession,
    redirect_to,
    region_path,
    render_console,
    require_region,
)
from api.routes.projects import ProjectId, project_errors
from api.routes.region_admin import optional_chain
from ledger.chain.context import ChainContext
from ledger.console import projects as ops
from ledger.staff.sessions import Session

router = APIRouter(prefix="/console", include_in_schema=False)

Text = Annotated[str, Form(max_length=ops.MAX_DESCRIPTION + 100)]


def _projects_url(region: int) -> str:
    return f"{region_path(region)}/projects"


def _project_url(region: int, project_id: int) -> str:
    return f"{_projects_url(region)}/{project_id}"


def _goal(value: str) -> int:
    value = value.strip().replace(",", "")
    if not value:
        return 0
    if not value.isdigit():
        raise ValueError("the goal is a whole number of coins")
    return ops.check_goal(int(value))


async def _image_of(upload: UploadFile | None) -> bytes | None:
    """The uploaded file's bytes (None when no file was chosen); read at most 1 MiB + 1 byte."""
    if upload is None or not upload.filename:
        return None
    data = await upload.read(ops.MAX_IMAGE_BYTES + 1)
    await upload.close()
    return data or None


def _check_form(name: str, description: str, goal: str, image: bytes | None) -> tuple[dict[str, str], int]:
    """Each field checked on its own, so the page says which one is wrong (error keys)."""
    errors: dict[str, str] = {}
    goal_value = 0
    try:
        ops.check_text(name, description)
    except ValueError:
        errors["name"] = "error_name"
    try:
        goal_value = _goal(goal)
    except ValueError:
        errors["goal"] = "error_goal"
    if image is not None:
        try:
            ops.image_type_of(image)
        except ops.ImageTooLarge:
            errors["image"] = "error_image_size"
        except ValueError:
            errors["image"] = "error_image_type"
    return errors, goal_value


def _status_of(errors: dict[str, str]) -> int:
    return 413 if errors.get("image") == "error_image_size" else 422


def _load(
    engine: EngineDep, session: Session, region: int, project_id: int, chain: ChainContext | None
) -> ops.StaffProject:
    with project_errors(), engine.connect() as conn:
        project = ops.load_project(conn, project_id, chain)
    if project.region != region:  # another region's project under this region's URL: nothing of it shown
        raise ApiError(404, "not_found", f"no project {project_id} in region {region:05d}")
    session.actor.require("read", project.region)
    return project


@router.get("/regions/{code}/projects", response_class=HTMLResponse)
def projects_page(request: Request, code: str, session: ConsoleSession, engine: EngineDep) -> Response:
    region = require_region(session, code)
    with engine.connect() as conn:
        projects = ops.list_projects(conn, session.actor, region)
    return render_console(
        request,
        "console/projects.html",
        {
            "projects": projects,
            "can_edit": session.actor.can("projects"),
            "projects_url": _projects_url(region),
            "public_url": f"/regions/{region}#projects",
        },
        session,
        region=region,
    )


def _new_page(
    request: Request, session: Session, region: int, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    return render_console(
        request,
        "console/project_new.html",
        {
            "values": values,
            "errors": errors,
            "projects_url": _projects_url(region),
            "max_name": ops.MAX_NAME,
            "max_description": ops.MAX_DESCRIPTION,
        },
        session,
        region=region,
        status=status,
    )


@router.get("/regions/{code}/projects/new", response_class=HTMLResponse)
def new_project_page(request: Request, code: str, session: ConsoleSession) -> Response:
    region = require_region(session, code, "projects")
    return _new_page(request, session, region, {"name": "", "description": "", "goal": ""}, {})


@router.post("/regions/{code}/projects", response_class=HTMLResponse)
async def create_project(
    request: Request,
    code: str,
    session: ConsoleForm,
    engine: EngineDep,
    chain: ChainDep,
    name: Annotated[str, Form(max_length=ops.MAX_NAME + 100)] = "",
    description: Text = "",
    goal: Annotated[str, Form(max_length=40)] = "",
    image: Annotated[UploadFile | None, File()] = None,
) -> Response:
    region = require_region(session, code, "projects")
    data = await _image_of(image)
    errors, goal_value = _check_form(name, description, goal, data)
    if errors:
        values = {"name": name, "description": description, "goal": goal}
        return _new_page(request, session, region, values, errors, _status_of(errors))
    result = await asyncio.to_thread(
        ops.create_project,
        engine,
        session.actor,
        chain,
        region,
        name=name,
        description=description,
        goal=goal_value,
        image=data,
        client=client_ip(request),
    )
    return redirect_to(_project_url(region, int(result["project_id"])), done="project_created")


async def _detail_page(
    request: Request,
    session: Session,
    engine: EngineDep,
    region: int,
    project_id: int,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    chain = await optional_chain(request)
    project = await asyncio.to_thread(_load, engine, session, region, project_id, chain)
    context: dict[str, Any] = {
        "project": project,
        "can_edit": session.actor.can("projects"),
        "errors": errors or {},
        "values": values
        or {"name": project.name or "", "description": project.description, "goal": str(project.goal or "")},
        "projects_url": _projects_url(region),
        "project_url": _project_url(region, project_id),
        "image_url": (f"/projects/{project_id}/image?v={project.image_updated_at or 0}" if project.has_image else ""),
        "max_name": ops.MAX_NAME,
        "max_description": ops.MAX_DESCRIPTION,
    }
    return render_console(request, "console/project.html", context, session, region=region, status=status)


@router.get("/regions/{code}/projects/{project_id}", response_class=HTMLResponse)
async def project_page(
    request: Request, code: str, project_id: ProjectId, session: ConsoleSession, engine: EngineDep
) -> Response:
    region = require_region(session, code)
    return await _detail_page(request, session, engine, region, project_id)


@router.post("/regions/{code}/projects/{project_id}/text", response_class=HTMLResponse)
async def edit_text(
    request: Request,
    code: str,
    project_id: ProjectId,
    session: ConsoleForm,
    engine: EngineDep,
    chain: ChainDep,
    name: Annotated[str, Form(max_length=ops.MAX_NAME + 100)] = "",
    description: Text = "",
) -> Response:
    region = require_region(session, code, "projects")
    project = await asyncio.to_thread(_load, engine, session, region, project_id, chain)
    try:
        ops.check_text(name, description)
    except ValueError:
        values = {"name": name, "description": description, "goal": str(project.goal or "")}
        return await _detail_page(
            request, session, engine, region, project_id, errors={"name": "error_name"}, values=values, status=422
        )
    with project_errors():
        result = await asyncio.to_thread(
            ops.edit_text,
            engine,
            session.actor,
            chain,
            project_id,
            name=name,
            description=description,
            client=client_ip(request),
        )
    return redirect_to(_project_url(region, project_id), done="project_edited" if result["changed"] else "generic")


@router.post("/regions/{code}/projects/{project_id}/goal", response_class=HTMLResponse)
async def set_goal(
    request: Request,
    code: str,
    project_id: ProjectId,
    session: ConsoleForm,
    engine: EngineDep,
    goal: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    region = require_region(session, code, "projects")
    chain = await optional_chain(request)
    project = await asyncio.to_thread(_load, engine, session, region, project_id, chain)
    try:
        value = _goal(goal)
    except ValueError:
        values = {"name": project.name or "", "description": project.description, "goal": goal}
        return await _detail_page(
            request, session, engine, region, project_id, errors={"goal": "error_goal"}, values=values, status=422
        )
    with project_errors():
        await asyncio.to_thread(ops.set_goal, engine, session.actor, project_id, value, chain, client_ip(request))
    return redirect_to(_project_url(region, project_id), done="project_goal")


@router.post("/regions/{code}/projects/{project_id}/image", response_class=HTMLResponse)
async def set_image(
    request: Request,
    code: str,
    project_id: ProjectId,
    session: ConsoleForm,
    engine: EngineDep,
    image: Annotated[UploadFile | None, File()] = None,
    remove: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    region = require_region(session, code, "projects")
    chain = await optional_chain(request)
    await asyncio.to_thread(_load, engine, session, region, project_id, chain)
    data = await _image_of(image)
    if remove:
        data = None
    elif data is None:
        return await _detail_page(
            request, session, engine, region, project_id, errors={"image": "error_image_missing"}, status=422
        )
    else:
        errors, _ = _check_form("x", "", "", data)
        if errors:
            return await _detail_page(
                request, session, engine, region, project_id, errors=errors, status=_status_of(errors)
            )
    with project_errors():
        await asyncio.to_thread(ops.set_image, engine, session.actor, project_id, data, chain, client_ip(request))
    return redirect_to(_project_url(region, project_id), done="project_image_removed" if remove else "project_image")


@router.post("/regions/{code}/projects/{project_id}/close", response_class=HTMLResponse)
async def close_project(
    request: Request, code: str, project_id: ProjectId, session: ConsoleForm, engine: EngineDep, chain: ChainDep
) -> Response:
    region = require_region(session, code, "projects")
    await asyncio.to_thread(_load, engine, session, region, project_id, chain)
    with project_errors():
        await asyncio.to_thread(ops.close_project, engine, session.actor, chain, project_id, client_ip(request))
    return redirect_to(_project_url(region, project_id), done="project_closed")
