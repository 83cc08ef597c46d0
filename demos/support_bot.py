"""Embedding converso in someone else's bot: one converso thread per customer.

A support bot receives messages from many customers (here: a tiny in-process bot loop standing in
for Slack, a help desk or a messenger webhook). Each customer gets a converso thread, so two
customers never see each other's form, and a restarted bot resumes every conversation from the
checkpoint file. After each message the bot shows the customer the form's status.

Run it as it is (no API key needed: a scripted model stands in for the LLM):

    python demos/support_bot.py

With a real model, pass ``--live`` and set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converso.apps import AppOptions, model_settings
from converso.testing import ScriptedChatModel
from crm_tools.app import build_app


@dataclass
class Incoming:
    customer: str
    text: str


def form_status(form: dict[str, Any] | None) -> str:
    if not form:
        return "(no form open)"
    filled = ", ".join(f"{k}={v}" for k, v in form["values"].items()) or "nothing yet"
    missing = ", ".join(form["missing"]) or "nothing"
    return f"[{form['name']} {form['state']}: filled {filled}; missing {missing}]"


class SupportBot:
    """The host bot: routes each customer's message to that customer's converso thread."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def thread_for(self, customer: str) -> str:
        return f"support:{customer}"

    def handle(self, message: Incoming) -> str:
        reply = self.agent.send(self.thread_for(message.customer), message.text)
        return f"{reply.text}\n    {form_status(reply.form)}"


# Two customers interleaving; the scripted model answers in the order the calls happen.
CONVERSATION = [
    Incoming("ada", "Hi, please add our company to your CRM"),
    Incoming("bob", "I'd like to add a company too"),
    Incoming("ada", "Analytical Engines Ltd, analytical.example, 12 people"),
    Incoming("ada", "yes"),
]
SCRIPT: list[Any] = [
    {"tool_calls": [{"name": "CreateCompanyStart", "args": {}}]},
    {"tool_calls": [{"name": "FormUpdate", "args": {}}]},
    "Happy to. What is the company called?",
    {"tool_calls": [{"name": "CreateCompanyStart", "args": {}}]},
    {"tool_calls": [{"name": "FormUpdate", "args": {}}]},
    "Sure. What is the company's name?",
    {
        "tool_calls": [
            {
                "name": "FormUpdate",
                "args": {"name": "Analytical Engines Ltd", "domain": "analytical.example", "employees": 12},
            }
        ]
    },
    {"tool_calls": [{"name": "FormFinalize", "args": {"confirm": True}}]},
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="where threads and the CRM live (default: a temp dir)")
    parser.add_argument("--live", action="store_true", help="use the model from OPENAI_* / CONVERSO_MODEL")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="converso-support-bot-"))
    model: Any = ScriptedChatModel(responses=list(SCRIPT))
    if args.live:
        import os

        model = model_settings(
            os.environ.get("CONVERSO_MODEL"),
            os.environ.get("OPENAI_BASE_URL"),
            os.environ.get("OPENAI_API_KEY"),
        )
        if model is None:
            parser.error("--live needs OPENAI_API_KEY or OPENAI_BASE_URL")
    app = build_app(AppOptions(model=model, data_dir=data_dir))
    try:
        bot = SupportBot(app.agent)
        for message in CONVERSATION:
            print(f"{message.customer} > {message.text}")
            print(f"bot   > {bot.handle(message)}")
        companies = app.backend.list("company")["data"]["companies"]
        print(f"CRM companies: {[c['name'] for c in companies]}")
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
