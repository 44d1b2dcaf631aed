"""The staff console: signed-in, server-rendered Japanese pages for region staff (docs/console.md).

Each module has its own router under ``/console``; ``common`` holds the session dependencies,
rendering, the navigation and the error page. The JSON endpoints of the same actions live with
the rest of the API (``api/routes``), authorised by an API key or the console session.
"""

from fastapi import APIRouter

from api.routes.console import activities, admin, audit, auth, codes, eligibility, home, presence, projects, reports

router = APIRouter()
for module in (auth, home, activities, codes, presence, projects, admin, audit, reports, eligibility):
    router.include_router(module.router)

__all__ = ["router"]
