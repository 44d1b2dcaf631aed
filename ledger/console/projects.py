"""Support projects (応援プロジェクト) as region staff run them: create, edit, set a goal and an
image, close; and the staff view with the exact supporters and coins raised.

A project's text (name, description) is kept off chain like an activity's
(:func:`ledger.checkin.metadata.store_metadata`); the chain stores its hash at registration and at
every edit (``ProjectMetadataChanged``), so the indexed ``projects`` view always names the latest
text. The goal and the image are local presentation data (``project_details``), each change in
the staff audit. Chain actions run through :func:`ledger.console.pending.run_chain_action`.

The public pages keep their small-cell suppression (:func:`ledger.queries.public_projects`); only
staff of the project's region see the exact numbers here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, Engine, Row, text

from ledger.chain.context import ChainContext
from ledger.checkin.metadata import store_metadata
from ledger.console.pending import CHECKERS, PendingAction, run_chain_action
from ledger.db.engine import write_transaction
from ledger.errors import InvalidInput
from ledger.staff import audit
from ledger.staff.errors import StaffError
from ledger.staff.roles import Actor

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_GOAL",
    "ProjectNotFound",
    "ImageTooLarge",
    "StaffProject",
    "image_type_of",
    "check_text",
    "check_goal",
    "list_projects",
    "load_project",
    "project_image",
    "create_project",
    "edit_text",
    "set_goal",
    "set_image",
    "close_project",
]

MAX_IMAGE_BYTES: Final = 1024 * 1024  # 1 MiB
MAX_GOAL: Final = 2**63 - 1
MAX_NAME: Final = 120
MAX_DESCRIPTION: Final = 2000
_MAGIC: Final = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


class ProjectNotFound(StaffError):
    """No such project (neither indexed nor on chain)."""

    code = "unknown_project"


class ImageTooLarge(InvalidInput):
    """An image over :data:`MAX_IMAGE_BYTES` (the API answers 413)."""


@dataclass(frozen=True)
class StaffProject:
    project_id: int
    chain_id: int
    region: int
    name: str | None
    description: str
    metadata_hash: str
    closed: bool
    raised: int  # exact (staff view)
    supporters: int  # exact (staff view)
    goal: int  # 0: no goal
    image_type: str | None
    image_updated_at: int | None
    registered_at: int | None  # None: not indexed yet (read from the chain)
    indexed: bool

    @property
    def has_image(self) -> bool:
        return self.image_type is not None

    @property
    def progress(self) -> float | None:
        """Share of the goal raised (0..1, capped), None without a goal."""
        return None if self.goal <= 0 else min(self.raised / self.goal, 1.0)

    def as_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "region": self.region,
            "name": self.name,
            "description": self.description,
            "metadata_hash": self.metadata_hash,
            "closed": self.closed,
            "raised": self.raised,
            "supporters": self.supporters,
            "goal": self.goal,
            "progress": self.progress,
            "image_url": f"/projects/{self.project_id}/image" if self.has_image else None,
            "registered_at": self.registered_at,
            "indexed": self.indexed,
        }


# -- validation ------------------------------------------------------------------------------------


def image_type_of(data: bytes) -> str:
    """The content type of an image by its first bytes: PNG or JPEG only, at most 1 MiB.

    :class:`ImageTooLarge` over the size, ``ValueError`` for anything else (an SVG or an HTML page
    named ``.png`` included: the name and the declared type are never trusted)."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"an image is at most {MAX_IMAGE_BYTES} bytes (1 MiB), this one has {len(data)}")
    for magic, content_type in _MAGIC:
        if data.startswith(magic) and len(data) > len(magic):
            return content_type
    raise InvalidInput("the image must be a PNG or JPEG file")


def check_text(name: str, description: str) -> tuple[str, str]:
    name, description = name.strip(), description.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"a project name has 1 to {MAX_NAME} characters")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"a description has at most {MAX_DESCRIPTION} characters")
    return name, description


def check_goal(goal: int) -> int:
    if not 0 <= goal <= MAX_GOAL:
        raise InvalidInput("the goal is a number of coins, 0 or more (0: no goal)")
    return goal


# -- reading ---------------------------------------------------------------------------------------

_SELECT = (
    "SELECT p.project_id, p.chain_id, p.region, m.name, m.description, p.metadata_hash, p.closed, p.raised, "
    "p.supporters, d.goal, d.image_type, d.updated_at, p.registered_at "
    "FROM projects p "
    "LEFT JOIN activity_metadata m ON m.metadata_hash = p.metadata_hash "
    "LEFT JOIN project_details d ON d.chain_id = p.chain_id AND d.project_id = p.project_id "
)


def _from_row(row: Row[Any]) -> StaffProject:
    r: tuple[Any, ...] = tuple(row)
    return StaffProject(
        project_id=int(r[0]),
        chain_id=int(r[1]),
        region=int(r[2]),
        name=None if r[3] is None else str(r[3]),
        description="" if r[4] is None else str(r[4]),
        metadata_hash=str(r[5]),
        closed=bool(r[6]),
        raised=int(r[7] or 0),
        supporters=int(r[8] or 0),
        goal=int(r[9] or 0),
        image_type=None if r[10] is None else str(r[10]),
        image_updated_at=None if r[11] is None else int(r[11]),
        registered_at=None if r[12] is None else int(r[12]),
        indexed=True,
    )


def list_projects(conn: Connection, actor: Actor, region: int) -> list[StaffProject]:
    """The region's indexed projects, open ones first, newest first (exact numbers: staff only)."""
    actor.require("read", region)
    rows = conn.execute(text(_SELECT + "WHERE p.region = :r ORDER BY p.closed, p.project_id DESC"), {"r": region}).all()
    return [_from_row(r) for r in rows]


def load_project(conn: Connection, project_id: int, chain: ChainContext | None = None) -> StaffProject:
    """One project: from the index, else (just created, not indexed yet) from the chain when
    ``chain`` is given; :class:`ProjectNotFound` otherwise. The caller checks the region."""
    where = "WHERE p.project_id = :i" + (" AND p.chain_id = :c" if chain is not None else "")
    params = {"i": project_id, "c": chain.chain_id if chain is not None else None}
    row = conn.execute(text(_SELECT + where), params).first()
    if row is not None:
        return _from_row(row)
    if chain is None or not 1 <= project_id < 2**64:
        raise ProjectNotFound(f"no project {project_id}")
    info = chain.client.project(project_id)
    if info.region == 0:
        raise ProjectNotFound(f"no project {project_id}")
    metadata_hash = "0x" + info.metadata_hash.hex()
    text_row = conn.execute(
        text("SELECT name, description FROM activity_metadata WHERE metadata_hash = :h"), {"h": metadata_hash}
    ).first()
    details = conn.execute(
        text("SELECT goal, image_type, updated_at FROM project_details WHERE chain_id = :c AND project_id = :i"),
        {"c": chain.chain_id, "i": project_id},
    ).first()
    return StaffProject(
        project_id=project_id,
        chain_id=chain.chain_id,
        region=info.region,
        name=None if text_row is None else str(text_row[0]),
        description="" if text_row is None else str(text_row[1] or ""),
        metadata_hash=metadata_hash,
        closed=info.closed,
        raised=info.raised,
        supporters=0,
        goal=0 if details is None else int(details[0]),
        image_type=None if details is None or details[1] is None else str(details[1]),
        image_updated_at=None if details is None else int(details[2]),
        registered_at=None,
        indexed=False,
    )


def project_image(conn: Connection, project_id: int) -> tuple[bytes, str, int] | None:
    """A project's image, its content type and when it was set (public: shown on the region page).
    With several chains in one index, the indexed project's chain wins."""
    row = conn.execute(
        text(
            "SELECT d.image, d.image_type, d.updated_at FROM project_details d "
            "LEFT JOIN projects p ON p.chain_id = d.chain_id AND p.project_id = d.project_id "
            "WHERE d.project_id = :i AND d.image IS NOT NULL "
            "ORDER BY CASE WHEN p.project_id IS NULL THEN 1 ELSE 0 END, d.updated_at DESC LIMIT 1"
        ),
        {"i": project_id},
    ).first()
    if row is None or row[1] not in {t for _, t in _MAGIC}:
        return None
    return bytes(row[0]), str(row[1]), int(row[2])


# -- changes ---------------------------------------------------------------------------------------


def _hash_bytes(metadata_hash: str) -> bytes:
    return bytes.fromhex(metadata_hash.removeprefix("0x"))


def _save_details(
    conn: Connection, chain_id: int, project_id: int, *, goal: int | None = None, image: tuple[bytes, str] | None = None
) -> None:
    """Upsert ``project_details`` (only the given fields change; a new row has goal 0, no image)."""
    now = int(time.time())
    conn.execute(
        text(
            "INSERT INTO project_details (chain_id, project_id, goal, image, image_type, updated_at) "
            "VALUES (:c, :i, 0, NULL, NULL, :t) ON CONFLICT (chain_id, project_id) DO NOTHING"
        ),
        {"c": chain_id, "i": project_id, "t": now},
    )
    if goal is not None:
        conn.execute(
            text("UPDATE project_details SET goal = :g, updated_at = :t WHERE chain_id = :c AND project_id = :i"),
            {"g": goal, "t": now, "c": chain_id, "i": project_id},
        )
    if image is not None:
        data, content_type = image
        conn.execute(
            text(
                "UPDATE project_details SET image = :b, image_type = :m, updated_at = :t "
                "WHERE chain_id = :c AND project_id = :i"
            ),
            {"b": data or None, "m": content_type or None, "t": now, "c": chain_id, "i": project_id},
        )


def create_project(
    engine: Engine,
    actor: Actor,
    chain: ChainContext,
    region: int,
    *,
    name: str,
    description: str = "",
    goal: int = 0,
    image: bytes | None = None,
    client: str = "",
) -> dict[str, Any]:
    """Register a project of ``region`` on chain with its text, then keep its goal and image.

    Everything is checked before anything is sent: a bad image refuses the whole form."""
    actor.require("projects", region)
    name, description = check_text(name, description)
    goal = check_goal(goal)
    image_type = image_type_of(image) if image else None
    with write_transaction(engine) as conn:  # the text first, so pages name it as soon as it is indexed
        metadata_hash = store_metadata(conn, name, description, "")
    sender = chain.operator("region-admin")

    def send() -> dict[str, Any]:
        project_id = chain.client.register_project(sender, region, _hash_bytes(metadata_hash))
        return {"project_id": project_id, "metadata_hash": metadata_hash}

    result = run_chain_action(
        engine,
        actor,
        region=region,
        kind="project.create",
        payload={"name": name, "goal": goal, "image": image_type or ""},
        metadata_hash=metadata_hash,
        send=send,
        client=client,
    )
    project_id = int(result["project_id"])
    with write_transaction(engine) as conn:
        _save_details(
            conn, chain.chain_id, project_id, goal=goal, image=(image, image_type) if image and image_type else None
        )
    return {"project_id": project_id, "region": region, "metadata_hash": metadata_hash, "name": name, "goal": goal}


def _editable(conn: Connection, actor: Actor, chain: ChainContext | None, project_id: int) -> StaffProject:
    project = load_project(conn, project_id, chain)
    actor.require("projects", project.region)
    return project


def edit_text(
    engine: Engine,
    actor: Actor,
    chain: ChainContext,
    project_id: int,
    *,
    name: str,
    description: str,
    client: str = "",
) -> dict[str, Any]:
    """Commit the project to new text (``ProjectMetadataChanged``); nothing is sent when unchanged."""
    name, description = check_text(name, description)
    with engine.connect() as conn:
        project = _editable(conn, actor, chain, project_id)
    with write_transaction(engine) as conn:
        metadata_hash = store_metadata(conn, name, description, "")
    if metadata_hash == project.metadata_hash:
        return {"project_id": project_id, "metadata_hash": metadata_hash, "changed": False}
    sender = chain.operator("region-admin")

    def send() -> dict[str, Any]:
        receipt = chain.client.set_project_metadata(sender, project_id, _hash_bytes(metadata_hash))
        return {"project_id": project_id, "metadata_hash": metadata_hash, "tx_hash": chain.client.tx_hash(receipt)}

    result = run_chain_action(
        engine,
        actor,
        region=project.region,
        kind="project.edit",
        payload={"project_id": project_id, "name": name, "from_name": project.name or ""},
        metadata_hash=metadata_hash,
        send=send,
        target=f"project:{project_id}",
        client=client,
    )
    return {**result, "changed": True}


def set_goal(
    engine: Engine, actor: Actor, project_id: int, goal: int, chain: ChainContext | None = None, client: str = ""
) -> StaffProject:
    """Set the goal in coins (0: none): local, audited."""
    goal = check_goal(goal)
    with write_transaction(engine) as conn:
        project = _editable(conn, actor, chain, project_id)
        _save_details(conn, project.chain_id, project_id, goal=goal)
        audit.record(
            conn,
            actor,
            "project.goal",
            region=project.region,
            target=f"project:{project_id}",
            detail={"from": project.goal, "to": goal},
            client=client,
        )
        return load_project(conn, project_id, chain)


def set_image(
    engine: Engine,
    actor: Actor,
    project_id: int,
    image: bytes | None,
    chain: ChainContext | None = None,
    client: str = "",
) -> StaffProject:
    """Set (``image`` PNG/JPEG bytes) or remove (``None``) the project's image: local, audited."""
    image_type = image_type_of(image) if image is not None else None
    with write_transaction(engine) as conn:
        project = _editable(conn, actor, chain, project_id)
        _save_details(conn, project.chain_id, project_id, image=(image or b"", image_type or ""))
        audit.record(
            conn,
            actor,
            "project.image",
            region=project.region,
            target=f"project:{project_id}",
            detail={"type": image_type, "bytes": len(image)} if image is not None else {"removed": True},
            client=client,
        )
        return load_project(conn, project_id, chain)


def close_project(
    engine: Engine, actor: Actor, chain: ChainContext, project_id: int, client: str = ""
) -> dict[str, Any]:
    """Close the project on chain: no further support (``ProjectClosed`` if it already is)."""
    with engine.connect() as conn:
        project = _editable(conn, actor, chain, project_id)
    sender = chain.operator("region-admin")

    def send() -> dict[str, Any]:
        receipt = chain.client.close_project(sender, project_id)
        return {"project_id": project_id, "closed": True, "tx_hash": chain.client.tx_hash(receipt)}

    return run_chain_action(
        engine,
        actor,
        region=project.region,
        kind="project.close",
        payload={"project_id": project_id, "name": project.name or ""},
        send=send,
        target=f"project:{project_id}",
        client=client,
    )


# -- reconciling a crash between sending and marking (ledger/console/pending.py) -------------------


def _created(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    """A ``project.create`` is done when the index has a project of the region with its text's hash
    (the newest one; its goal is kept then, the image must be uploaded again)."""
    if action.metadata_hash is None:
        return None
    row = conn.execute(
        text(
            "SELECT chain_id, project_id FROM project_registrations WHERE region = :r AND LOWER(metadata_hash) = :h "
            "ORDER BY block_number DESC, log_index DESC LIMIT 1"
        ),
        {"r": action.region, "h": action.metadata_hash.lower()},
    ).first()
    if row is None:
        return None
    goal = int(action.payload.get("goal") or 0)
    if goal:
        _save_details(conn, int(row[0]), int(row[1]), goal=goal)
    return {"project_id": int(row[1]), "metadata_hash": action.metadata_hash}


def _edited(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    project_id = action.payload.get("project_id")
    if action.metadata_hash is None or project_id is None:
        return None
    row = conn.execute(
        text(
            "SELECT tx_hash FROM project_metadata_changes WHERE project_id = :i AND LOWER(metadata_hash) = :h "
            "ORDER BY block_number DESC, log_index DESC LIMIT 1"
        ),
        {"i": int(project_id), "h": action.metadata_hash.lower()},
    ).first()
    if row is None:
        return None
    return {"project_id": int(project_id), "metadata_hash": action.metadata_hash, "tx_hash": str(row[0])}


def _closed(conn: Connection, action: PendingAction) -> dict[str, Any] | None:
    project_id = action.payload.get("project_id")
    if project_id is None:
        return None
    row = conn.execute(
        text("SELECT tx_hash FROM project_closures WHERE project_id = :i AND region = :r LIMIT 1"),
        {"i": int(project_id), "r": action.region},
    ).first()
    return None if row is None else {"project_id": int(project_id), "closed": True, "tx_hash": str(row[0])}


CHECKERS["project.create"] = _created
CHECKERS["project.edit"] = _edited
CHECKERS["project.close"] = _closed
