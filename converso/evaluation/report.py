"""The numbers of an evaluation: per agent, per category and overall, as a Rich table, ``report.md`` and
a chart of success rates (``success_by_category.png``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.table import Table

CHART = "success_by_category.png"
REPORT = "report.md"
OVERALL = "overall"


@dataclass(frozen=True)
class Summary:
    agent: str
    category: str
    episodes: int
    tasks: int
    success_rate: float
    pass_k: float | None
    """Share of tasks whose every repeat succeeded (only with more than one repeat)."""
    k: int
    mean_score: float
    user_turns: float
    llm_calls: float
    prompt_tokens: float
    cached_tokens: float


def summarise(rows: Iterable[dict[str, Any]]) -> list[Summary]:
    """One summary per (agent, category), and one per agent over all categories (``overall``)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["agent"], row["category"])].append(row)
        groups[(row["agent"], OVERALL)].append(row)
    return [_summary(agent, category, group) for (agent, category), group in sorted(groups.items())]


def _summary(agent: str, category: str, rows: list[dict[str, Any]]) -> Summary:
    by_task: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        by_task[row["task_id"]].append(bool(row["success"]))
    k = max(len(runs) for runs in by_task.values())
    n = len(rows)

    def mean(key: str) -> float:
        return sum(float(row.get(key) or 0) for row in rows) / n

    return Summary(
        agent=agent,
        category=category,
        episodes=n,
        tasks=len(by_task),
        success_rate=sum(bool(row["success"]) for row in rows) / n,
        pass_k=(sum(all(runs) for runs in by_task.values()) / len(by_task)) if k > 1 else None,
        k=k,
        mean_score=mean("score"),
        user_turns=mean("user_turns"),
        llm_calls=mean("llm_calls"),
        prompt_tokens=mean("prompt_tokens"),
        cached_tokens=mean("cached_tokens"),
    )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


_COLUMNS = (
    "agent",
    "category",
    "episodes",
    "success",
    "pass^k",
    "score",
    "user turns",
    "LLM calls",
    "prompt tok",
    "cached",
)


def _cells(s: Summary) -> list[str]:
    pass_k = f"{_percent(s.pass_k)} (k={s.k})" if s.pass_k is not None else "-"
    return [
        s.agent,
        s.category,
        str(s.episodes),
        _percent(s.success_rate),
        pass_k,
        f"{s.mean_score:.2f}",
        f"{s.user_turns:.1f}",
        f"{s.llm_calls:.1f}",
        f"{s.prompt_tokens:,.0f}",
        f"{s.cached_tokens:,.0f}",
    ]


def summary_table(summaries: Sequence[Summary]) -> Table:
    table = Table(title="Evaluation (means per episode)", show_lines=False)
    for column in _COLUMNS:
        table.add_column(column, justify="left" if column in ("agent", "category") else "right")
    for s in _ordered(summaries):
        table.add_row(*_cells(s), style="bold" if s.category == OVERALL else None)
    return table


def _ordered(summaries: Sequence[Summary]) -> list[Summary]:
    return sorted(summaries, key=lambda s: (s.agent, s.category == OVERALL, s.category))


def write_chart(summaries: Sequence[Summary], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = sorted({s.agent for s in summaries})
    categories = [*sorted({s.category for s in summaries if s.category != OVERALL}), OVERALL]
    rates = {(s.agent, s.category): 100 * s.success_rate for s in summaries}
    width = 0.8 / max(1, len(agents))
    figure, axes = plt.subplots(figsize=(max(8, 0.9 * len(categories) + 2), 4.8))
    for index, agent in enumerate(agents):
        positions = [i + (index - (len(agents) - 1) / 2) * width for i in range(len(categories))]
        axes.bar(positions, [rates.get((agent, c), 0) for c in categories], width, label=agent)
    axes.set_xticks(
        range(len(categories)), [c.replace("_", " ") for c in categories], rotation=30, ha="right"
    )
    axes.set_ylabel("success rate (%)")
    axes.set_ylim(0, 100)
    axes.set_title("Task success by category")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_report(
    rows: Sequence[dict[str, Any]], out_dir: Path, *, title: str = "Evaluation", notes: Sequence[str] = ()
) -> Path:
    summaries = summarise(rows)
    write_chart(summaries, out_dir / CHART)
    lines = [
        f"# {title}",
        "",
        f"Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from `results.jsonl` ({len(rows)} episodes).",
    ]
    lines += [f"- {note}" for note in notes]
    lines += ["", "## Overall", "", *_markdown([s for s in summaries if s.category == OVERALL])]
    lines += ["", f"![success rate by category]({CHART})", "", "## By category", ""]
    lines += _markdown([s for s in summaries if s.category != OVERALL])
    failed = [row for row in rows if not row["success"]]
    lines += ["", f"## Failed episodes ({len(failed)})", ""]
    if failed:
        lines += ["| agent | task | score | why |", "|---|---|---|---|"]
        for row in sorted(failed, key=lambda r: (r["agent"], r["task_id"], r.get("repeat", 0))):
            why = "; ".join(row.get("reasons") or []) or (row.get("error") or "")
            lines.append(f"| {row['agent']} | {row['task_id']} | {row['score']:.2f} | {_cell(why)} |")
    path = out_dir / REPORT
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _markdown(summaries: Sequence[Summary]) -> list[str]:
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(_cells(s)) + " |" for s in _ordered(summaries)]
    return lines


def _cell(text: str, width: int = 300) -> str:
    text = " ".join(text.replace("|", "/").split())
    return text if len(text) <= width else text[: width - 1] + "…"
