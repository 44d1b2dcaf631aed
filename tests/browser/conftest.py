"""What every browser test shares: Debian's chromium through Playwright (never `playwright
install`), a phone's viewport, a watcher that fails a test on any console error or uncaught
exception of its pages, and the whole stack as real processes for the tests that need it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.stack import DevStack, running_stack

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (./run test installs it); never `playwright install`
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "locale": "ja-JP",
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DONE = "#status[data-state=confirmed], #status[data-state=indexed]"  # the claim page's coin arrived


class Console:
    """Every console error and uncaught exception of the pages it watches."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def watch(self, page: Page, name: str, allow: tuple[str, ...] = ()) -> Page:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and not any(a in message.text for a in allow):
                self.problems.append(f"{name}: console error: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.problems.append(f"{name}: page error: {error}"))
        return page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console() -> Iterator[Console]:
    watcher = Console()
    yield watcher
    assert not watcher.problems, "\n".join(watcher.problems)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """anvil (1 s blocks), the API, the relayer and the indexer as real processes, per test module."""
    with running_stack(tmp_path_factory.mktemp("browser-stack")) as running:
        yield running
