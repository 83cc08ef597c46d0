"""A FormTool written for the original converso, run unchanged by today's engine (offline, scripted model).

Run it: ``python docs/examples/seed_form.py``. The class bodies are as the original converso's FormTools
were written: un-annotated ``name``/``description``, ``_run_when_complete(self, **kwargs)``, hooks that
read ``self.form``, and the executor's ``on_tool_start``/``on_tool_end`` callbacks.
"""

from typing import Optional, Type  # noqa: UP035 - as the original converso's code was written

from pydantic import BaseModel, Field

from converso.conversational_engine.form_agent import FormAgentExecutor, FormTool, FormToolState
from converso.testing import ScriptedChatModel

USERS = []  # stands in for your database


class CreateUserPayload(BaseModel):
    name: str = Field(description="The user's full name")
    email: str = Field(description="The user's email address")
    age: Optional[int] = Field(default=None, description="The user's age")  # noqa: UP045


class CreateUser(FormTool):
    name = "CreateUser"
    description = "Create a user account"
    args_schema: Type[BaseModel] = CreateUserPayload  # noqa: UP006

    def _run_when_complete(self, **kwargs):
        USERS.append(kwargs)
        return f"User {self.form.name} created"

    def get_next_field_to_collect(self, run_manager=None):
        if self.form.email is None:
            return "email"
        return super().get_next_field_to_collect()

    def get_tool_start_message(self, input: dict) -> str:
        message = super().get_tool_start_message(input)
        if self.state == FormToolState.FILLED:
            return f"{message}: {self.form.name} <{self.form.email}>"
        return message


def on_tool_start(tool, tool_input):
    print(f"  [{tool.get_tool_start_message(tool_input)}]")


def on_tool_end(tool, tool_output):
    print(f"  [{tool.name} -> {tool_output[:60]}]")


model = ScriptedChatModel(
    responses=[
        {"tool_calls": [{"name": "CreateUserStart", "args": {}}]},
        {
            "tool_calls": [
                {"name": "CreateUserUpdate", "args": {"name": "Ada Lovelace", "email": "ada@example.com"}}
            ]
        },
        "Ada Lovelace, ada@example.com. Shall I create the account?",
        {"tool_calls": [{"name": "CreateUserFinalize", "args": {"confirm": True}}]},
        "Done.",
    ]
)

with FormAgentExecutor(
    tools=[CreateUser()], model=model, on_tool_start=on_tool_start, on_tool_end=on_tool_end
) as agent:
    for text in ["Create an account for Ada Lovelace, ada@example.com", "yes"]:
        print(f"> {text}")
        print(agent.send("user-1", text).text)

assert USERS == [{"name": "Ada Lovelace", "email": "ada@example.com", "age": None}], USERS
