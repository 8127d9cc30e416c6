"""GraphiQL in a real browser (Debian's chromium through Selenium) that can reach nothing
but loopback: the README's tour, from the login mutation to a live ADDED event.

The browser resolves every host name except 127.0.0.1 to "not found", so an asset fetched
from a CDN would leave the page at "Loading…". The page's Content-Security-Policy is on;
a violation would show in the console log, which the test reads. A screenshot of the
subscription result is saved in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from e2e_client import Murmur
from live_server import LiveServer, serving
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.support.e2e import e2e_settings

T = TypeVar("T")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LOGIN = """mutation {
  login(username: "demo", password: "murmur-demo") {
    __typename
    ... on AuthPayload { token user { id username followingCount } }
    ... on Error { message }
  }
}"""
SUBSCRIBE = "subscription { timelineEvents { kind postId post { body author { username } } } }"
WAIT_SECONDS = 30.0


def _browser_binaries() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        # in CI a skip is a failure (tests/conftest.py); `make test` installs both
        pytest.skip("chromium and chromium-driver are not installed (scripts/system-deps.sh test)")
    return chromium, driver


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with a small demo world, so the README's demo login works as written."""
    settings = e2e_settings(
        tmp_path_factory.mktemp("e2e-graphiql"), seed={"enabled": True, "users": 12, "posts_per_user": 1}
    )
    yield from serving(settings)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium, driver = _browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        # no network beyond loopback: every other name fails to resolve
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-proxy-server",
        "--disable-background-networking",
        "--disable-component-update",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download a driver
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    try:
        yield session
    finally:
        session.quit()


def _until(check: Callable[[], T | None], what: str, within: float = WAIT_SECONDS) -> T:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _editor(browser: WebDriver, selector: str) -> str:
    """JavaScript for the CodeMirror instance of a visible GraphiQL editor."""
    return (
        f"Array.from(document.querySelectorAll({json.dumps(selector + ' .CodeMirror')}))"
        ".find(e => !e.closest('.hidden')).CodeMirror"
    )


def _set(browser: WebDriver, selector: str, text: str) -> None:
    browser.execute_script(f"{_editor(browser, selector)}.setValue(arguments[0])", text)


def _result(browser: WebDriver) -> str:
    return str(browser.execute_script(f"return {_editor(browser, '.graphiql-response')}.getValue()"))


def _save(browser: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / name))


def _local_storage(browser: WebDriver) -> str:
    """Every key and value the page's origin keeps in localStorage, as one string."""
    return str(browser.execute_script("return JSON.stringify(Object.entries(window.localStorage))"))


def _console(browser: WebDriver) -> list[dict[str, Any]]:
    """The page's console log: Chrome's driver has get_log, which Selenium leaves untyped."""
    entries: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[attr-defined]
    return entries


def _run(browser: WebDriver) -> None:
    time.sleep(0.5)  # GraphiQL parses the editor's text after a pause in typing, as a person's
    browser.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()


def test_the_readme_tour_in_graphiql_offline(seeded: LiveServer, browser: WebDriver) -> None:
    murmur = Murmur(seeded)
    writer, writer_id, writer_name = asyncio.run(murmur.register("graphiql_writer"))
    demo = asyncio.run(
        murmur.execute(
            'mutation { login(username: "demo", password: "murmur-demo") { ... on AuthPayload { token } } }'
        )
    )["login"]["token"]
    asyncio.run(murmur.follow(demo, writer_id))

    browser.get(seeded.base("/graphql"))
    _until(lambda: browser.find_elements(By.CSS_SELECTOR, ".graphiql-execute-button"), "GraphiQL to render")

    # the README's login mutation; the token shows in the result pane
    _set(browser, ".graphiql-query-editor", LOGIN)
    _run(browser)
    result = _until(lambda: _result(browser) if "token" in _result(browser) else None, "the login result")
    login = json.loads(result)["data"]["login"]
    assert login["__typename"] == "AuthPayload"
    assert login["user"]["username"] == "demo"

    # the Headers pane, typed as the README says (a capital A)
    browser.find_element(By.XPATH, "//button[normalize-space()='Headers']").click()
    _set(browser, ".graphiql-editor-tool", json.dumps({"Authorization": f"Bearer {login['token']}"}))

    # the subscription tour: a post by someone demo follows arrives as ADDED
    _set(browser, ".graphiql-query-editor", SUBSCRIBE)
    _run(browser)
    body = f"hello from {writer_name}"

    def added() -> dict[str, object] | None:
        if "websocket" in _result(browser):
            # GraphiQL picks the transport from its parse of the editor, which can lag behind
            # the text set a moment ago: it sent the subscription over HTTP, so run it again
            _run(browser)
        asyncio.run(murmur.post(writer, body))  # until the subscription is listening
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            text = _result(browser)
            if body in text:
                return dict(json.loads(text)["data"]["timelineEvents"])
            time.sleep(0.1)
        return None

    try:
        event = _until(added, "an ADDED event in the result pane")
    except AssertionError as exc:
        _save(browser, "graphiql-failure.png")
        editors = browser.execute_script(
            "return Array.from(document.querySelectorAll('.CodeMirror')).map(e => [e.parentElement.className, e.offsetParent !== null, e.CodeMirror.getValue().slice(0, 80)])"
        )
        raise AssertionError(
            f"{exc}; editors: {editors}; result pane: {_result(browser)!r}; console: {_console(browser)}"
        ) from None
    assert event["kind"] == "ADDED"
    assert event["post"] == {"body": body, "author": {"username": writer_name}}

    _save(browser, "graphiql-subscription.png")
    # the token typed in the Headers pane stays out of localStorage (any script on the origin
    # could read it there, long after the tab is closed), and a reload does not bring it back
    assert login["token"] not in _local_storage(browser)
    browser.refresh()
    _until(
        lambda: browser.find_elements(By.CSS_SELECTOR, ".graphiql-execute-button"), "GraphiQL to render again"
    )
    assert login["token"] not in _local_storage(browser)
    browser.find_element(By.XPATH, "//button[normalize-space()='Headers']").click()
    headers = browser.execute_script(f"return {_editor(browser, '.graphiql-editor-tool')}.getValue()")
    assert login["token"] not in str(headers)
    problems = [
        entry["message"]
        for entry in _console(browser)
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]
    assert problems == []
