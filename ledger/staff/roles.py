"""Roles, what each may do, and who is acting.

=========  =====================================================================================
role       may
=========  =====================================================================================
platform   everything, in every region; registers a region's first admin
admin      everything of its region: activities, kiosk, check-ins and revocations, projects,
           issuers, staff accounts, the audit with revocation notes, exports
staff      activities, kiosk, check-ins and revocations, projects, the audit with notes
viewer     reads the console of its region (the audit without revocation notes)
=========  =====================================================================================

API keys act the same way: an ``operator`` key is its region's admin, a ``platform`` key a
platform operator, a ``researcher`` key may only download the export (of every region, or of the
one it is scoped to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ledger.auth import Credential
from ledger.staff.errors import Forbidden, WrongRegion

__all__ = ["StaffRole", "STAFF_ROLES", "Permission", "PERMISSIONS", "ROLE_LABELS", "Actor"]

StaffRole = Literal["platform", "admin", "staff", "viewer"]
STAFF_ROLES: Final[tuple[StaffRole, ...]] = ("platform", "admin", "staff", "viewer")
Permission = Literal["read", "activities", "checkins", "projects", "issuers", "staff", "notes", "export", "regions"]

PERMISSIONS: Final[dict[str, frozenset[Permission]]] = {
    "platform": frozenset(
        ("read", "activities", "checkins", "projects", "issuers", "staff", "notes", "export", "regions")
    ),
    "admin": frozenset(("read", "activities", "checkins", "projects", "issuers", "staff", "notes", "export")),
    "staff": frozenset(("read", "activities", "checkins", "projects", "notes")),
    "viewer": frozenset(("read",)),
    "researcher": frozenset(("export",)),
}
ROLE_LABELS: Final[dict[str, tuple[str, str]]] = {
    "platform": ("プラットフォーム運営", "platform operator"),
    "admin": ("地域管理者", "region admin"),
    "staff": ("スタッフ", "staff"),
    "viewer": ("閲覧のみ", "viewer"),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in account (``account_id``) or an API key (``key_id``).

    ``ref`` is what the audit stores (``account:7``, ``key:ab12…``), ``label`` what it shows.
    """

    ref: str
    label: str
    role: str
    region: int | None  # None: every region (platform)
    account_id: int | None = None

    @classmethod
    def of_key(cls, credential: Credential) -> Actor:
        role = {"operator": "admin", "platform": "platform"}.get(credential.role, "researcher")
        return cls(f"key:{credential.key_id}", credential.label, role, credential.region)

    @classmethod
    def cli(cls, label: str = "CLI") -> Actor:
        """The operator at the command line (holds the server's keys, so acts as platform)."""
        return cls("cli", label, "platform", None)

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def may_access(self, region: int) -> bool:
        return self.region is None or self.region == region

    def require(self, permission: Permission, region: int | None = None) -> None:
        """Raise :class:`WrongRegion` or :class:`Forbidden` unless this actor may do ``permission``
        (in ``region``, when given)."""
        if region is not None and not self.may_access(region):
            raise WrongRegion(f"{self.label} works for region {self.region:05d}, not {region:05d}")
        if not self.can(permission):
            raise Forbidden(f"the role {self.role} may not do this ({permission})")
