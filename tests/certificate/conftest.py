"""The browser fixtures of tests/browser (Debian's chromium, the console-error watcher), for the
certificate pages' browser tests here."""

from tests.browser.conftest import browser, console

__all__ = ["browser", "console"]
