"""Running a suite's episodes, a few at a time, and keeping every result as it arrives.

``DIR/results.jsonl`` gets one line per episode the moment it ends, and ``DIR/transcripts/`` its
conversation, so an interrupted run keeps everything finished so far. Rows of agents not in this run are
kept, so two runs into one folder (``--agent converso``, then ``--agent flat``) compare in one report.
A failing episode (a model that keeps failing, a crash) is a failed result with its reason, never the end
of the run.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converso.evaluation.episode import EpisodeResult, EvalConfig, EvalSuite, EvalTask

RESULTS = "results.jsonl"
TRANSCRIPTS = "transcripts"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Episode:
    task: EvalTask
    agent: str
    repeat: int


def episodes(tasks: Sequence[EvalTask], agents: Sequence[str], repeat: int) -> list[Episode]:
    return [Episode(task, agent, r) for agent in agents for task in tasks for r in range(repeat)]


def read_results(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / RESULTS
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


class ResultWriter:
    """Appends results as they come, after keeping the rows of other agents from an earlier run."""

    def __init__(self, out_dir: Path, agents: Sequence[str], repeat: int) -> None:
        self.out_dir = out_dir
        self.repeat = repeat
        out_dir.mkdir(parents=True, exist_ok=True)
        kept = [row for row in read_results(out_dir) if row.get("agent") not in agents]
        self._lock = threading.Lock()
        self._file = (out_dir / RESULTS).open("w", encoding="utf-8")
        for row in kept:
            self._write_line(row)

    def _write_line(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()

    def add(self, result: EpisodeResult) -> None:
        suffix = f"-r{result.repeat + 1}" if self.repeat > 1 else ""
        transcript = self.out_dir / TRANSCRIPTS / result.agent / f"{result.task_id}{suffix}.json"
        transcript.parent.mkdir(parents=True, exist_ok=True)
        document = {**result.row(), "messages": result.transcript}
        transcript.write_text(
            json.dumps(document, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
        with self._lock:
            self._write_line(result.row())

    def close(self) -> None:
        self._file.close()


def run_one(suite: EvalSuite, episode: Episode, config: EvalConfig) -> EpisodeResult:
    try:
        return suite.run_episode(episode.task, episode.agent, config, episode.repeat)
    except Exception as exc:
        # Suites turn model failures into failed episodes themselves; whatever gets here is a bug, logged
        # with its traceback, and still only this episode fails.
        log.exception("episode %s/%s failed", episode.agent, episode.task.id)
        return EpisodeResult(
            task_id=episode.task.id,
            category=episode.task.category,
            agent=episode.agent,
            success=False,
            score=0.0,
            reasons=[f"the episode crashed: {type(exc).__name__}: {exc}"],
            repeat=episode.repeat,
            error=f"{type(exc).__name__}: {exc}",
        )


def run_episodes(
    suite: EvalSuite,
    planned: Sequence[Episode],
    config: EvalConfig,
    writer: ResultWriter,
    *,
    concurrency: int = 1,
    on_result: Callable[[EpisodeResult], None] | None = None,
    stop: threading.Event | None = None,
) -> list[EpisodeResult]:
    """Run ``planned`` with ``concurrency`` episodes at once; each result is written when it ends.

    Setting ``stop`` (Ctrl-C) starts no new episode; the running ones finish and are kept."""
    stop = stop or threading.Event()
    results: list[EpisodeResult] = []
    queue: Iterator[Episode] = iter(planned)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="converso-eval") as pool:
        running: set[Future[EpisodeResult]] = set()

        def fill() -> None:
            while len(running) < max(1, concurrency) and not stop.is_set():
                episode = next(queue, None)
                if episode is None:
                    return
                running.add(pool.submit(run_one, suite, episode, config))

        fill()
        while running:
            done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                running.discard(future)
                result = future.result()
                writer.add(result)
                results.append(result)
                if on_result is not None:
                    on_result(result)
            fill()
    return results
