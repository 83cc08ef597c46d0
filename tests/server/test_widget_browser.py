"""The chat page and the embeddable widget in headless Chromium, through a full create-company
conversation with a scripted model and the real CRM app."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converso.apps import AppOptions
from converso.server import ChatServer, Limits, ServerConfig
from converso.testing import ScriptedChatModel

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "widget-key"
REPO = Path(__file__).resolve().parents[2]

# The engine answers the filled form's summary and the commit's result itself (return_direct), and the
# Confirm button saves without the model, so the model speaks only when it asks for the name.
CREATE_COMPANY_SCRIPT: list[Any] = [
    {"tool_calls": [{"name": "CreateCompanyStart", "args": {}}]},
    {"tool_calls": [{"name": "FormUpdate", "args": {}}]},
    "Sure. What is the company called?",
    {
        "tool_calls": [
            {"name": "FormUpdate", "args": {"name": "Acme", "domain": "acme.com", "employees": 250}}
        ]
    },
]
INTERNAL_NAMES = (
    "CreateCompany",
    "FormReset",
    "search",
    "list_companies",
    "domainName",
    "⚙",
    "FILLED",
    "ACTIVE",
)
USER_TURNS = ["I'd like to add a company", "Acme, acme.com, 250 people"]


def _browser_or_skip() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "the playwright package is not installed (run .ci/install-browser)"
    if reason is None and not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing (run .ci/install-browser)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"The browser test must run in CI: {reason}")
        pytest.skip(reason)
    return sync_playwright


class BackgroundServer:
    """`converso serve` on its own event loop thread, so the sync Playwright API can drive it."""

    def __init__(self, agent: Any, state_url: str) -> None:
        self._agent = agent
        self._state_url = state_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: ChatServer | None = None

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        config = ServerConfig(api_keys=(KEY,), port=0, state_url=self._state_url, limits=Limits())
        self.server = ChatServer(self._agent, config)
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.shutdown(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def crm_app(tmp_path: Path) -> Iterator[Any]:
    from crm_tools.app import build_app

    app = build_app(
        AppOptions(model=ScriptedChatModel(responses=list(CREATE_COMPANY_SCRIPT)), data_dir=tmp_path)
    )
    yield app
    app.close()


def chat(page: Any, text: str, replies_before: int) -> str:
    page.locator("input[aria-label=Message]").fill(text)
    page.get_by_role("button", name="Send").click()
    reply = page.locator("[data-role=assistant]").nth(replies_before)
    page.wait_for_function(
        "n => document.querySelector('[data-converso]').shadowRoot"
        ".querySelectorAll('button[type=submit]:not([disabled])').length === 1",
        arg=None,
        timeout=15_000,
    )
    return reply.inner_text()


def widget_text(page: Any) -> str:
    return page.evaluate(
        "document.querySelector('[data-converso]').shadowRoot.querySelector('.panel').innerText"
    )


def shoot(page: Any, tmp_path: Path, name: str) -> None:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copy(shot, artifacts / name)


def test_the_chat_page_creates_a_company_through_a_full_conversation(crm_app: Any, tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    with (
        BackgroundServer(crm_app.agent, str(tmp_path / "server.sqlite")) as background,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 760})
        # A wrong key: back to the key entry, saying so, with the bad key forgotten.
        page.goto(f"{background.url}/#key=not-the-key")
        page.locator("#login-error").wait_for(timeout=10_000)
        refused = page.locator("#login-error").inner_text()
        stored = page.evaluate("sessionStorage.getItem('converso.key')")
        focused = page.evaluate("document.activeElement.id")
        shoot(page, tmp_path, "widget-key-refused.png")
        page.get_by_label("Client API key of this server").fill(KEY)
        page.get_by_role("button", name="Start chatting").click()
        page.locator("text=online").wait_for(timeout=10_000)
        welcome = page.locator("[data-role=welcome]").inner_text()
        replies = [chat(page, text, i) for i, text in enumerate(USER_TURNS)]
        form_panel = page.locator("[data-role=form]").inner_text()
        activity = page.locator("[data-role=activity]").all_inner_texts()
        shoot(page, tmp_path, "widget-filled.png")
        page.get_by_role("button", name="Confirm and save: New company").click()
        page.locator("[data-role=assistant]").nth(2).wait_for(timeout=15_000)
        page.wait_for_function(
            "() => !document.querySelector('[data-converso]').shadowRoot.querySelector('button[type=submit]').disabled",
            timeout=15_000,
        )
        replies.append(page.locator("[data-role=assistant]").nth(2).inner_text())
        screen_after_confirm = widget_text(page)
        # A reload keeps the key for the tab and shows the conversation again.
        page.reload()
        page.locator("text=online").wait_for(timeout=10_000)
        page.locator("[data-role=assistant]").nth(2).wait_for(timeout=10_000)
        history = page.locator("[data-role=user], [data-role=assistant]").all_inner_texts()
        shoot(page, tmp_path, "widget.png")
        browser.close()
    print(f"widget screenshots in {REPO / 'artifacts'}")

    assert "not accepted" in refused and stored is None and focused == "key"
    assert welcome.startswith("Hello!")
    assert replies[0] == "Sure. What is the company called?"
    assert replies[1].startswith("Create company:\n- Name: Acme\n- Domain: acme.com\n- Employees: 250")
    assert replies[2].startswith("Created company Acme")
    assert form_panel.startswith("New company")
    assert "Employees\n250" in form_panel and "Confirm" in form_panel and "Change" in form_panel
    assert activity and all(phrase.endswith("New company") for phrase in activity)
    for name in INTERNAL_NAMES:
        assert name not in screen_after_confirm, name
    assert history == [
        USER_TURNS[0],
        replies[0],
        USER_TURNS[1],
        replies[1],
        "Yes, save it.",
        replies[2],
    ]
    companies = crm_app.backend.list("company")["data"]["companies"]
    assert [(c["name"], c["domainName"]["primaryLinkUrl"], c["employees"]) for c in companies] == [
        ("Acme", "acme.com", 250)
    ]


def test_the_demo_page_embeds_the_widget_as_a_chat_bubble(tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    from crm_tools.app import build_app

    app = build_app(
        AppOptions(
            model=ScriptedChatModel(responses=["Hello! What should I add to the CRM?"]), data_dir=tmp_path
        )
    )
    try:
        with (
            BackgroundServer(app.agent, str(tmp_path / "server.sqlite")) as background,
            sync_playwright() as p,
        ):
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            demo = (REPO / "demos" / "web_widget.html").as_uri()
            page.goto(f"{demo}?server={background.url}&key={KEY}")
            page.locator("button[aria-label='Open chat']").click()
            page.locator("text=online").wait_for(timeout=10_000)
            reply = chat(page, "hi", 0)
            browser.close()
    finally:
        app.close()
    assert reply == "Hello! What should I add to the CRM?"
