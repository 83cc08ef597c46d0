"""`converso eval`: run a suite's tasks with an agent, write results.jsonl, transcripts, report.md and a chart.

The tasks, graders and agents belong to the suite (the CRM's comes from crm_tools through the
``converso.evaluations`` entry-point group); this command only parses options, shows progress and writes.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from converso.apps import ModelSettings, model_settings
from converso.cli.options import ApiKeyOption, BaseUrlOption, ModelOption, no_model_screen
from converso.evaluation.episode import EpisodeResult, EvalConfig
from converso.evaluation.report import REPORT, summarise, summary_table, write_report
from converso.evaluation.runner import ResultWriter, episodes, read_results, run_episodes
from converso.evaluation.suites import UnknownSuiteError, find_suite
from converso.form_agent.model_factory import ModelFactory


def evaluate(
    agent: Annotated[
        str, typer.Option("--agent", help="converso, flat, reference or silent; several: converso,flat.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.jsonl, transcripts/, report.md.")],
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    api_key: ApiKeyOption = None,
    user_model: Annotated[
        str | None,
        typer.Option("--user-model", help="Model of the simulated user (default: the agent's model)."),
    ] = None,
    user_base_url: Annotated[
        str | None,
        typer.Option("--user-base-url", help="Endpoint of the user's model (default: --base-url)."),
    ] = None,
    user_api_key: Annotated[
        str | None, typer.Option("--user-api-key", help="API key of the user's model (default: --api-key).")
    ] = None,
    scripted_user: Annotated[
        bool,
        typer.Option("--scripted-user", help="Speak each task's reference lines instead of an LLM user."),
    ] = False,
    tasks: Annotated[
        Path | None,
        typer.Option("--tasks", help="A task file or a folder of them (default: the bundled suite)."),
    ] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Only the tasks of this category.")
    ] = None,
    task_ids: Annotated[
        list[str] | None, typer.Option("--task", help="Only this task (by id); repeat the option for more.")
    ] = None,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, help="Episodes per task (pass^k is reported).")
    ] = 1,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Episodes run at once.")] = 4,
    max_turns: Annotated[
        int | None, typer.Option("--max-turns", min=1, help="User messages at most (default: per task).")
    ] = None,
    suite_name: Annotated[
        str | None, typer.Option("--suite", help="Which registered evaluation suite (default: the only one).")
    ] = None,
) -> None:
    """Evaluate an agent on the task suite: success per task, graded from what it wrote to the CRM."""
    # Piped output (CI logs) gets the summary table at full width instead of Rich's 80 columns.
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=140)
    try:
        suite = find_suite(suite_name)
    except UnknownSuiteError as exc:
        _fail(console, str(exc))
    agents = [name.strip() for name in agent.split(",") if name.strip()]
    unknown = [name for name in agents if name not in suite.agents]
    if unknown or not agents:
        _fail(
            console,
            f"Unknown agent {', '.join(unknown) or repr(agent)}. Accepted: {', '.join(suite.agents)}.",
        )
    try:
        chosen = list(suite.load_tasks(tasks, category))
    except (ValueError, OSError) as exc:
        _fail(console, str(exc))
    if task_ids:
        known = {task.id for task in chosen}
        missing = [task_id for task_id in task_ids if task_id not in known]
        if missing:
            _fail(
                console,
                f"No task {', '.join(missing)} among the {len(known)} tasks chosen. Ids: {', '.join(sorted(known))}.",
            )
        chosen = [task for task in chosen if task.id in task_ids]
    settings = model_settings(model, base_url, api_key)
    if settings is None and any(name in suite.model_agents for name in agents):
        no_model_screen(console, f"eval --agent {agent}")
        console.print(
            f"[dim]The offline agents need no model: {', '.join(n for n in suite.agents if n not in suite.model_agents)}.[/dim]"
        )
        raise typer.Exit(2)
    config = EvalConfig(
        agent_model=settings,
        user_model=None
        if scripted_user
        else _user_settings(settings, user_model, user_base_url, user_api_key),
        max_turns=max_turns,
    )
    for role, configured in (("agent", config.agent_model), ("simulated user", config.user_model)):
        problem = _model_problem(configured)
        if problem is not None:
            _fail(console, f"The {role}'s model cannot be used: {problem}")
    planned = episodes(chosen, agents, repeat)
    writer = ResultWriter(out, agents, repeat)
    stop = threading.Event()
    previous_handler = signal.getsignal(signal.SIGINT)
    interrupted = _on_ctrl_c(console, stop)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[passed]} passed"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task(
                f"{', '.join(agents)} on {len(chosen)} tasks", total=len(planned), passed=0
            )
            passed = 0

            def advance(result: EpisodeResult) -> None:
                nonlocal passed
                passed += result.success
                progress.update(bar, advance=1, passed=passed)

            run_episodes(
                suite, planned, config, writer, concurrency=concurrency, on_result=advance, stop=stop
            )
    finally:
        writer.close()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous_handler)
    rows = read_results(out)
    notes = [f"agents: {', '.join(sorted({row['agent'] for row in rows}))}"]
    if settings is not None:
        notes.append(f"model: {settings.model}" + (f" at {settings.base_url}" if settings.base_url else ""))
    write_report(rows, out, title=f"{suite.name} evaluation", notes=notes)
    console.print(summary_table(summarise(rows)))
    console.print(f"Results in {escape(str(out))}/ (results.jsonl, transcripts/, {REPORT}, chart)")
    if interrupted.is_set():
        console.print(f"[yellow]Interrupted: {len(rows)} episodes kept.[/yellow]")
        raise typer.Exit(130)


def _user_settings(
    agent: ModelSettings | None, model: str | None, base_url: str | None, api_key: str | None
) -> ModelSettings | None:
    if model is None and base_url is None:
        return agent
    base = agent or ModelSettings(model=model or "gpt-4o-mini")
    return ModelSettings(
        model=model or base.model, base_url=base_url or base.base_url, api_key=api_key or base.api_key
    )


def _model_problem(settings: ModelSettings | None) -> str | None:
    """Why the model of ``settings`` cannot be built (a bad provider string, a missing package), checked
    before any episode runs rather than failing each one; building it calls no network."""
    if settings is None:
        return None
    try:
        ModelFactory(settings.model, base_url=settings.base_url, api_key=settings.api_key).chat_model()
    except Exception as exc:  # providers raise their own types (openai.OpenAIError for a missing key)
        return str(exc)
    return None


def _on_ctrl_c(console: Console, stop: threading.Event) -> threading.Event:
    """The first Ctrl-C starts no new episode and lets the running ones finish; the second leaves at once."""
    interrupted = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        stop.set()
        console.print(
            "[yellow]Stopping: finishing the episodes under way (Ctrl-C again to quit now).[/yellow]"
        )

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handle)
    return interrupted


def _fail(console: Console, message: str) -> None:
    console.print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
