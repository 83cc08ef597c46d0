"""A policy that asks a model behind an OpenAI-compatible endpoint for each action.

The model gets the env's actions as function tools (``env_tools``), the task's instruction, and the
episode so far as its own tool calls with the observations as tool results; its next tool call is
the next action. A reply without a tool call is taken as the final answer.
"""

from __future__ import annotations

import json
from typing import Any

from crm_tools.env.rollout import Turn
from crm_tools.env.tool_schemas import env_tools

SYSTEM_PROMPT = """You are a tool-using agent working in a CRM (companies, people, opportunities, notes, tasks).
Do what the task asks by calling the tools, one call at a time. Find records with the list tools
(filter like name[ilike]:"%acme%" or emails.primaryEmail[eq]:ada@example.com) and use their ids.
When the work is done, or to give an answer, call submit_answer; it ends the episode."""


def format_observation(observation: dict[str, Any]) -> str:
    """An observation as the model reads it: the response body, then the error if the step failed."""
    lines = [json.dumps(observation.get("data"), ensure_ascii=False, separators=(",", ":"))]
    if observation.get("error"):
        lines.append(f"Error: {observation['error']}")
    return "\n".join(lines)


class LLMPolicy:
    """``client``: an ``openai.OpenAI`` (or compatible) client; ``extensions``: offer our extra actions too."""

    def __init__(
        self,
        client: Any,
        model: str,
        *,
        temperature: float | None = None,
        system_prompt: str = SYSTEM_PROMPT,
        extensions: bool = False,
    ) -> None:
        self._client = client
        self.model = model
        self.temperature = temperature
        self.system_prompt = system_prompt
        self.tools = env_tools(extensions=extensions)

    @classmethod
    def from_endpoint(cls, base_url: str, api_key: str, model: str, **options: Any) -> LLMPolicy:
        from openai import OpenAI

        return cls(OpenAI(base_url=base_url, api_key=api_key), model, **options)

    def messages(self, turn: Turn) -> list[dict[str, Any]]:
        instruction = (turn.task or {}).get("instruction") or "Explore the CRM and submit an answer."
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": instruction},
        ]
        for number, (action, observation) in enumerate(turn.history):
            call_id = f"call_{number}"
            arguments = {k: v for k, v in action.items() if k != "action_type"}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": str(action.get("action_type")),
                                "arguments": json.dumps(arguments),
                            },
                        }
                    ],
                }
            )
            messages.append(
                {"role": "tool", "tool_call_id": call_id, "content": format_observation(observation)}
            )
        return messages

    def __call__(self, turn: Turn) -> dict[str, Any]:
        options: dict[str, Any] = {} if self.temperature is None else {"temperature": self.temperature}
        response = self._client.chat.completions.create(
            model=self.model, messages=self.messages(turn), tools=self.tools, **options
        )
        message = response.choices[0].message
        if message.tool_calls:
            # One action per step: the first call is taken, the model sees the rest never happened.
            function = message.tool_calls[0].function
            return {"name": function.name, "arguments": function.arguments}
        return {"action_type": "submit_answer", "answer": message.content or ""}
