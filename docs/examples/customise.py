"""The customisation hooks of docs/customisation.md, run offline with a scripted model.

Run it: ``python docs/examples/customise.py``.
"""

from __future__ import annotations

from langchain_core.tools import tool

from converso import FormAgentExecutor
from converso.testing import ScriptedChatModel


@tool
def list_companies(prefix: str) -> list[str]:
    """Companies whose name starts with ``prefix``."""
    return [name for name in ("Acme", "Acme Labs", "Globex") if name.startswith(prefix)]


tools = [list_companies]


def scripted() -> ScriptedChatModel:
    return ScriptedChatModel(
        responses=[
            {"tool_calls": [{"name": "list_companies", "args": {"prefix": "Acme"}}]},
            "Acme and Acme Labs.",
        ]
    )


model = scripted()

agent = FormAgentExecutor(
    tools,
    model=model,
    system_prompt="You are Acme's CRM assistant. Be brief.",
    tool_timeout=10,
    format_tool_result=lambda tool, result: f"{tool.name}: {result}",
    on_tool_start=lambda tool, tool_input: print("…", tool.name),
    on_tool_end=lambda tool, tool_output: print("✓", tool.name),
    strict=False,
)


class AcmeAgent(FormAgentExecutor):
    system_prompt = "You are Acme's CRM assistant. Be brief."


class MinimalAgent(FormAgentExecutor):
    def build_system_prompt(self, forms, now, last_error):
        return f"Fill the form. It is {now:%A}." + (f" Last error: {last_error}" if last_error else "")


class TerseAgent(FormAgentExecutor):
    def format_tool_result(self, tool, result):
        if isinstance(result, list):
            return "\n".join(f"- {item}" for item in result[:20])
        return super().format_tool_result(tool, result)


with agent:
    print(agent.send("t", "Which companies start with Acme?").text)
assert model.requests[0].messages[0].text.startswith("You are Acme's CRM assistant. Be brief.")
assert model.requests[1].last_tool_result == "list_companies: ['Acme', 'Acme Labs']"

for agent_class, check in (
    (AcmeAgent, lambda request: request.messages[0].text.startswith("You are Acme's CRM assistant.")),
    (MinimalAgent, lambda request: request.messages[0].text.startswith("Fill the form. It is ")),
    (TerseAgent, lambda request: request.last_tool_result == "- Acme\n- Acme Labs"),
):
    model = scripted()
    with agent_class(tools, model) as agent:
        agent.send("t", "Which companies start with Acme?")
    assert check(model.requests[0] if agent_class is not TerseAgent else model.requests[1]), agent_class
print("ok")
