"""The factory ``langgraph.json`` names: configured from the environment like ``converso chat``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from converso.form_agent.model_factory import ModelConfigurationError
from crm_tools import langgraph_app

ROOT = Path(__file__).resolve().parents[2]
MODEL_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CONVERSO_MODEL")


def test_langgraph_json_names_the_factory() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    module, _, attribute = config["graphs"]["crm"].partition(":")
    assert (module, attribute) == ("crm_tools.langgraph_app", "make_crm_graph")


def test_without_a_model_the_factory_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ModelConfigurationError, match=r"set OPENAI_API_KEY .* or OPENAI_BASE_URL"):
        langgraph_app.build_crm_graph()


def test_the_graph_is_built_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("CONVERSO_CRM", str(tmp_path / "crm.sqlite3"))
    monkeypatch.setenv("CONVERSO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(langgraph_app, "_built", None)

    async def twice() -> tuple[object, object]:
        return await langgraph_app.make_crm_graph(), await langgraph_app.make_crm_graph()

    first, second = asyncio.run(twice())
    assert first is second
    assert (tmp_path / "crm.sqlite3").exists()
    assert {"agent", "tool", "give_up"} <= set(first.get_graph().nodes)
    assert first.checkpointer is None  # the server brings its own
