"""The `crm-env` command line."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from converso.cli.errors import CliError, friendly_app, run
from crm_tools.backends.base import PLURALS

app = friendly_app(help="The CRM agent environment: serve it, or look inside a store.", no_args_is_help=True)
data_app = typer.Typer(help="Read the records of a CRM store.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(data_app, name="data")

_OBJECTS = {plural: name for name, plural in PLURALS.items()} | {name: name for name in PLURALS}


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one.")] = 8000,
    api_key: Annotated[
        list[str] | None,
        typer.Option("--api-key", help="An accepted API key (repeatable); also from CRM_ENV_API_KEYS=K1,K2."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Serve one shared durable CRM (sqlite:///file.db or postgresql://...) to every connection."
        ),
    ] = None,
    max_sessions: Annotated[int, typer.Option(help="Concurrent connections; more are refused.")] = 256,
    max_frame_bytes: Annotated[int, typer.Option(help="Largest accepted frame; larger closes with 1009.")] = 1
    << 20,
    max_steps: Annotated[
        int,
        typer.Option(help="Step limit of a task episode (a reset may ask for another).", min=1, max=10_000),
    ] = 50,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Serve the CRM agent environment over WebSocket at ws://HOST:PORT/ws (GET /healthz for probes)."""
    from crm_tools.env.auth import ApiKeys
    from crm_tools.env_server import EnvServerConfig, run_env_server
    from crm_tools.errors import CRMError

    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(
            f"{log_level!r}; accepted: DEBUG, INFO, WARNING, ERROR", param_hint="--log-level"
        )
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        keys = ApiKeys.from_sources(api_key or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--api-key") from None
    config = EnvServerConfig(
        api_keys=keys,
        host=host,
        port=port,
        store=store,
        max_sessions=max_sessions,
        max_frame_bytes=max_frame_bytes,
        max_steps=max_steps,
    )
    try:
        run_env_server(config)
    except CRMError as exc:  # the --store URL is not accepted, or cannot be opened
        raise CliError(f"--store: {exc.message}") from exc


@app.command()
def rollout(
    url: Annotated[str, typer.Option(help="The env server, e.g. ws://127.0.0.1:8000.")],
    api_key: Annotated[
        str,
        typer.Option(help="An API key of the server; also from CRM_ENV_API_KEY.", envvar="CRM_ENV_API_KEY"),
    ],
    policy: Annotated[
        str, typer.Option(help="reference (solves each task), noop (answers at once) or llm.")
    ] = "reference",
    episodes: Annotated[int, typer.Option(help="How many episodes, on seeds SEED, SEED+1, ...", min=1)] = 30,
    seed: Annotated[int, typer.Option(help="The first episode's seed.", min=0)] = 0,
    task_id: Annotated[str | None, typer.Option(help="Run this task in every episode.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Step limit per episode (default: the server's).", min=1)
    ] = None,
    model: Annotated[str, typer.Option(help="llm policy: the model name.")] = "gpt-4o-mini",
    llm_base_url: Annotated[
        str | None,
        typer.Option(help="llm policy: the OpenAI-compatible endpoint (…/v1).", envvar="OPENAI_BASE_URL"),
    ] = None,
    llm_api_key: Annotated[
        str | None, typer.Option(help="llm policy: its API key.", envvar="OPENAI_API_KEY")
    ] = None,
) -> None:
    """Run episodes of a policy on an env server; print each episode's reward, then the mean."""
    from crm_tools.backends.env_client import EnvError
    from crm_tools.env.policies import make_policy
    from crm_tools.env.rollout import EnvConnection, collect_rollout, describe

    try:
        chosen = make_policy(policy, model=model, llm_base_url=llm_base_url, llm_api_key=llm_api_key)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policy") from None
    rewards: list[float] = []
    try:
        with EnvConnection(url, api_key) as env:
            for episode_seed in range(seed, seed + episodes):
                result = collect_rollout(env, chosen, seed=episode_seed, task_id=task_id, max_steps=max_steps)
                rewards.append(result.reward)
                typer.echo(describe(result))
    except (EnvError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"mean reward: {round(sum(rewards) / len(rewards), 4)}")


@data_app.command("list")
def data_list(
    object_name: Annotated[str, typer.Argument(help="companies, people, opportunities, notes, tasks, ...")],
    store: Annotated[str, typer.Option(help="The store URL (sqlite:///file.db or postgresql://...).")],
    filter: Annotated[
        str | None,
        typer.Option(help='e.g. name[ilike]:"%acme%" or employees[gte]:100 (grammar: docs/crm.md)'),
    ] = None,
    order_by: Annotated[str | None, typer.Option(help="e.g. name[DescNullsLast]")] = None,
    limit: Annotated[int, typer.Option(help="At most 200.")] = 60,
    depth: Annotated[int, typer.Option(help="0 or 1.")] = 0,
) -> None:
    """Print one page of records of a store as JSON (the list body of docs/crm.md)."""
    from crm_tools.backends.sql import SqlBackend
    from crm_tools.errors import CRMError

    name = _OBJECTS.get(object_name)
    if name is None:
        raise typer.BadParameter(f"unknown object '{object_name}'; accepted: {', '.join(PLURALS.values())}")
    try:
        backend = SqlBackend(store, create=False)  # a read-only command never creates a store
    except CRMError as exc:
        raise CliError(f"--store: {exc.message}", exit_code=1) from exc
    try:
        body = backend.list(name, filter=filter, order_by=order_by, limit=limit, depth=depth)  # type: ignore[arg-type]
    except CRMError as exc:
        typer.echo(json.dumps(exc.body(), indent=2), err=True)
        raise typer.Exit(1) from None
    finally:
        backend.close()
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))


def main() -> None:
    run(app, "crm-env")
