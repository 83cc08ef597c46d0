"""The original converso's API (the seed) works unmodified: each name of docs/migration.md, as the seed's
own FormTools used it, through the real FormAgentExecutor with a scripted model."""

from __future__ import annotations

from typing import Any, Optional, Type  # noqa: UP035 - written as the seed's FormTools were

from langchain_core.messages import ToolMessage
from pydantic import BaseModel, Field

from converso.conversational_engine.form_agent import (
    AgentState,
    FormAgentExecutor,
    FormContext,
    FormReset,
    FormTool,
    FormToolOutcome,
    FormToolState,
    ModelFactory,
    filter_active_tools,
)
from converso.conversational_engine.form_agent.form_agent_executor import (
    FormAgentExecutor as ExecutorFromModule,
)
from converso.conversational_engine.form_agent.form_tool import FormTool as FormToolFromModule
from converso.conversational_engine.form_agent.model_factory import ModelFactory as FactoryFromModule
from converso.form_agent.state import new_snapshot
from converso.testing import ScriptedChatModel
from tests.engine.conftest import NOW, call, counted_ids

# -- a FormTool written as in the seed: un-annotated name and description, `_run_when_complete(**kwargs)`


class CreateUserPayload(BaseModel):
    name: str = Field(description="The user's full name")
    email: str = Field(description="The user's email address")
    age: Optional[int] = Field(default=None, description="The user's age")  # noqa: UP045


class CreateUser(FormTool):
    name = "CreateUser"
    description = "Create a user account"
    args_schema: Type[BaseModel] = CreateUserPayload  # noqa: UP006

    saved: list = []

    def _run_when_complete(self, **kwargs):
        self.saved.append(kwargs)
        return f"User {kwargs['name']} created"


def seed_executor(tools: list[Any], script: list[Any], **options: Any) -> tuple[FormAgentExecutor, Any]:
    model = ScriptedChatModel(responses=list(script))
    executor = FormAgentExecutor(tools, model, clock=lambda: NOW, id_factory=counted_ids(), **options)
    return executor, model


def results(model: ScriptedChatModel) -> list[str]:
    return [m.text for m in model.requests[-1].messages if isinstance(m, ToolMessage)]


FILL_AND_CONFIRM = [
    call("CreateUserStart"),
    call("FormUpdate", {"name": "Ada Lovelace", "email": "ada@example.com"}),
    "Ada Lovelace, ada@example.com. Shall I create it?",
    call("FormFinalize", {"confirm": True}),
    "Created.",
]


def test_a_seed_style_form_tool_fills_confirms_and_commits_unchanged() -> None:
    form = CreateUser(saved=[])
    executor, model = seed_executor([form], FILL_AND_CONFIRM)
    with executor:
        filled = executor.send("t", "Create Ada Lovelace, ada@example.com")
        assert filled.form["state"] == "FILLED"
        assert form.saved == []
        done = executor.send("t", "yes")
    assert done.text == "Created."
    assert done.form is None
    assert form.saved == [{"name": "Ada Lovelace", "email": "ada@example.com", "age": None}]
    assert results(model)[-1] == "CreateUser saved. Result: User Ada Lovelace created"


def test_a_seed_style_commit_reads_the_conversations_values_through_self_form() -> None:
    class CreateUserFromForm(CreateUser):
        def _run_when_complete(self, **kwargs):
            assert self.state == FormToolState.FILLED
            return f"User {self.form.name} <{self.form.email}> created"

    executor, model = seed_executor([CreateUserFromForm(saved=[])], FILL_AND_CONFIRM)
    with executor:
        executor.send("t", "Create Ada")
        executor.send("t", "yes")
    assert results(model)[-1] == "CreateUser saved. Result: User Ada Lovelace <ada@example.com> created"


def test_a_seed_style_commit_declaring_context_gets_the_form_id() -> None:
    contexts: list[FormContext] = []

    class CreateUserKeyed(CreateUser):
        def _run_when_complete(self, context: FormContext | None = None, **kwargs):
            contexts.append(context)
            return "ok"

    executor, _ = seed_executor([CreateUserKeyed(saved=[])], FILL_AND_CONFIRM)
    with executor:
        executor.send("t", "Create Ada")
        executor.send("t", "yes")
    assert [context.form_id for context in contexts] == ["form-1"]
    assert contexts[0].thread_id == "t"


def test_a_seed_style_commit_naming_its_fields_gets_each_as_a_keyword() -> None:
    received: list[tuple[str, str, Any]] = []

    class CreateUserByName(CreateUser):
        def _run_when_complete(self, name: str, email: str, age: Optional[int] = None) -> str:  # noqa: UP045
            received.append((name, email, age))
            return "ok"

    executor, _ = seed_executor([CreateUserByName(saved=[])], FILL_AND_CONFIRM)
    with executor:
        executor.send("t", "Create Ada")
        executor.send("t", "yes")
    assert received == [("Ada Lovelace", "ada@example.com", None)]


def test_skip_confirm_commits_in_the_update_that_fills_the_form_as_in_the_seed() -> None:
    class FindUser(CreateUser):
        skip_confirm = True
        return_direct = True

    form = FindUser(saved=[])
    script = [call("CreateUserStart"), call("FormUpdate", {"name": "Ada", "email": "ada@example.com"})]
    executor, model = seed_executor([form], script)
    with executor:
        reply = executor.send("t", "Ada, ada@example.com")
    assert reply.text == "User Ada created"
    assert reply.form is None
    assert len(model.requests) == 2
    assert form.saved == [{"name": "Ada", "email": "ada@example.com", "age": None}]


def test_on_tool_start_and_on_tool_end_are_called_once_per_tool_call_with_the_seed_hook_messages() -> None:
    seen: list[tuple[str, Any, Any]] = []

    def on_tool_start(tool, tool_input):
        seen.append(("start", tool.get_tool_start_message(tool_input), tool_input))

    def on_tool_end(tool, tool_output):
        seen.append(("end", tool.name, tool_output))

    executor, _ = seed_executor(
        [CreateUser(saved=[])], FILL_AND_CONFIRM, on_tool_start=on_tool_start, on_tool_end=on_tool_end
    )
    with executor:
        executor.send("t", "Create Ada")
        executor.send("t", "yes")
    starts = [(message, tool_input) for kind, message, tool_input in seen if kind == "start"]
    assert starts == [
        ("Starting CreateUser", {}),
        ("Updating form for CreateUser", {"name": "Ada Lovelace", "email": "ada@example.com"}),
        ("Completed CreateUser", {"confirm": True}),
    ]
    ends = [(name, output) for kind, name, output in seen if kind == "end"]
    assert [name for name, _ in ends] == ["CreateUser", "CreateUser", "CreateUser"]
    assert ends[-1][1] == "CreateUser saved. Result: User Ada Lovelace created"
    assert [kind for kind, _, _ in seen] == ["start", "end"] * 3


def test_a_seed_style_get_tool_start_message_reads_the_form_of_the_conversation() -> None:
    class Announced(CreateUser):
        def get_tool_start_message(self, input: dict) -> str:
            base_message = super().get_tool_start_message(input)
            if self.state in (FormToolState.ACTIVE, FormToolState.FILLED):
                return f"{base_message} (so far: {self.form.name or '-'})"
            return base_message

    messages: list[str] = []
    executor, model = seed_executor(
        [Announced(saved=[])],
        FILL_AND_CONFIRM,
        on_tool_start=lambda tool, tool_input: messages.append(tool.get_tool_start_message(tool_input)),
    )
    with executor:
        executor.send("t", "Create Ada")
        executor.send("t", "yes")
    assert messages == [
        "Starting CreateUser",
        "Updating form for CreateUser (so far: -)",
        "Completed CreateUser (so far: Ada Lovelace)",
    ]
    # The seed's hook is for people: the model still gets the engine's own instructions after Start.
    start_result = next(m.text for m in model.requests[1].messages if isinstance(m, ToolMessage))
    assert "Call FormUpdate" in start_result


def test_a_seed_style_get_next_field_to_collect_reads_self_form() -> None:
    class EmailFirst(CreateUser):
        def get_next_field_to_collect(self, run_manager=None) -> str:
            if self.form.email is None:
                return "email"
            return super().get_next_field_to_collect()

    script = [call("CreateUserStart"), "What is the email?"]
    executor, model = seed_executor([EmailFirst(saved=[])], script)
    with executor:
        executor.send("t", "new user")
    assert "Next field to ask the user: email" in results(model)[0]


def test_a_seed_style_is_form_filled_decides_when_the_summary_comes() -> None:
    class NeedsAge(CreateUser):
        def is_form_filled(self) -> bool:
            return self.form.age is not None and super().is_form_filled()

        def get_next_field_to_collect(self, run_manager=None) -> str:
            return super().get_next_field_to_collect() or ("age" if self.form.age is None else None)

    script = [
        call("CreateUserStart"),
        call("FormUpdate", {"name": "Ada", "email": "ada@example.com"}),
        "How old is Ada?",
        call("FormUpdate", {"age": 36}),
        "Shall I create Ada, 36?",
    ]
    executor, _ = seed_executor([NeedsAge(saved=[])], script)
    with executor:
        assert executor.send("t", "Ada, ada@example.com").form["state"] == "ACTIVE"
        assert executor.send("t", "36").form["state"] == "FILLED"


def test_a_value_error_from_a_seed_commit_is_sent_back_to_the_model() -> None:
    class Taken(CreateUser):
        def _run_when_complete(self, **kwargs):
            raise ValueError(f"{kwargs['email']} is already registered")

    executor, model = seed_executor([Taken(saved=[])], FILL_AND_CONFIRM)
    with executor:
        executor.send("t", "Create Ada")
        reply = executor.send("t", "yes")
    assert results(model)[-1].startswith("CreateUser was not saved: ada@example.com is already registered.")
    assert reply.form["state"] == "FILLED"


def test_form_reset_drops_a_seed_style_form() -> None:
    script = [call("CreateUserStart"), "Name?", call("FormReset"), "Dropped."]
    executor, _ = seed_executor([CreateUser(saved=[])], script)
    with executor:
        assert executor.send("t", "new user").form["name"] == "CreateUser"
        assert executor.send("t", "forget it").form is None


def test_filter_active_tools_is_the_tool_list_offered_in_every_state() -> None:
    form = CreateUser(saved=[])
    inactive = [tool.name for tool in filter_active_tools([form, FormReset()], [])]
    active = [
        tool.name for tool in filter_active_tools([form, FormReset()], [new_snapshot("f", "CreateUser")])
    ]
    assert inactive == active == ["CreateUserStart", "FormUpdate", "FormFinalize", "FormReset"]


def test_the_seed_import_path_is_an_alias_of_the_engine() -> None:
    import converso.form_agent as engine

    assert FormToolOutcome is engine.FormToolOutcome

    assert FormTool is engine.FormTool is FormToolFromModule
    assert FormAgentExecutor is engine.FormAgentExecutor is ExecutorFromModule
    assert ModelFactory is engine.ModelFactory is FactoryFromModule
    assert FormReset is engine.FormReset
    assert AgentState is engine.AgentState
    assert [state.value for state in FormToolState] == ["INACTIVE", "ACTIVE", "FILLED"]
