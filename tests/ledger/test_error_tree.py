"""One exception tree in fact: every exception class of ``ledger`` is under ``TsunagariError``, and
``api/errors.py`` alone gives each a status (no bare ``ValueError`` becomes a 422)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import ledger
from api import errors as api_errors
from ledger.certificate.listings import ListingRefused
from ledger.errors import InvalidInput, TsunagariError

ROOT = Path(__file__).resolve().parents[2]


def _ledger_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(ledger.__path__, "ledger."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__.startswith("ledger"):
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def test_every_ledger_exception_is_under_the_root() -> None:
    classes = _ledger_exceptions()
    assert len(classes) > 60
    strays = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        # A class named with a leading underscore is a signal caught inside its own module.
        if not issubclass(cls, TsunagariError) and not cls.__name__.startswith("_")
    ]
    assert not strays, f"not under TsunagariError: {strays}"


def test_each_error_gets_its_status_in_api_errors_only() -> None:
    for cls in _ledger_exceptions():
        if not issubclass(cls, TsunagariError):
            continue
        exc = cls.__new__(cls)
        if not hasattr(exc, "code"):  # StaffError, CheckinRejected and the refusals carry a code
            exc.code = "unknown"  # type: ignore[attr-defined]
        status, code = api_errors.status_of(exc)
        assert 400 <= status <= 599 and code, cls
        if issubclass(cls, InvalidInput):
            assert status in (413, 422), cls
    # No HTTP status is named in ledger: no `status=`/`status_code` attribute on an error class.
    for path in (ROOT / "ledger").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(b, ast.Name) and b.id.endswith(("Error", "Refused", "Rejected")) for b in node.bases
            ):
                source = ast.unparse(node)
                assert "self.status =" not in source and "status_code" not in source, f"{path}: {node.name}"


def test_every_error_code_has_its_status() -> None:
    """Each code a refusal can carry has a status in api/errors.py (none falls back to a default)."""
    from ledger.certificate.listings import LISTING_REFUSALS
    from ledger.checkin.errors import REJECTION_CODES
    from ledger.staff.errors import StaffError

    assert api_errors.CHECKIN_STATUS.keys() >= REJECTION_CODES
    staff_codes = {cls.code for cls in _ledger_exceptions() if issubclass(cls, StaffError) and cls is not StaffError}
    assert staff_codes <= api_errors.STAFF_STATUS.keys()
    support_source = (ROOT / "ledger" / "relay" / "support_intake.py").read_text(encoding="utf-8")
    support_codes = set(re.findall(r'SupportRefused\(\s*"([a-z_]+)"', support_source))
    assert support_codes and support_codes <= api_errors.SUPPORT_STATUS.keys()
    for code in LISTING_REFUSALS:
        status, _ = api_errors.status_of(ListingRefused(code))
        assert status in (409, 422), code


def test_no_bare_value_error_is_a_422() -> None:
    from api.app import create_app
    from ledger.settings import Settings

    app = create_app(Settings(db={"url": "sqlite://"}))
    handled = set(app.exception_handlers)
    assert ValueError not in handled
    assert TsunagariError in handled
    source = (ROOT / "api" / "errors.py").read_text(encoding="utf-8")
    assert "exception_handler(ValueError)" not in source
