"""One connection's episode: the CRM it acts on, its counters, and what each frame does to them.

Plain synchronous code over a ``CRMBackend``; the server only moves frames in and out of it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from crm_tools.backends.base import CRMBackend
from crm_tools.env.actions import EXTENSION, Call, parse_action
from crm_tools.env.episodes import (
    DEFAULT_MAX_STEPS,
    TaskCatalog,
    TaskEpisode,
    deterministic_ids,
    grade_metadata,
    task_metadata,
)
from crm_tools.env.protocol import FrameError, ResetOptions, observation
from crm_tools.errors import CRMError

if TYPE_CHECKING:
    from crm_tools.tasks import Grade, Task

Mode = Literal["episode", "store"]
SERVER_NAME = "converso-crm-env"

_WRITES = frozenset({"create", "update", "delete", "complete"})
_LINK_OBJECTS = {"personId": "person", "companyId": "company", "opportunityId": "opportunity"}


class CRMSource(Protocol):
    """Where sessions get their CRM: a fresh one per episode, or one shared durable store."""

    mode: Mode

    def open(self, seed: int | None, *, new_id: Callable[[], str] | None = None) -> CRMBackend: ...

    def release(self, backend: CRMBackend) -> None: ...

    def close(self) -> None: ...


class EpisodeSource:
    """A fresh in-memory CRM per episode: empty, or filled with the demo data set of a seed.

    ``open_backend(image, new_id)`` opens an in-memory CRM from a serialized database. Each seed's data
    set is built once and then copied, which costs a fraction of a millisecond instead of the hundred
    it takes to write the records. Released CRMs are kept (up to ``keep_idle``) and loaded with the
    next episode's database, which saves opening a connection.

    Every database starts from one base (the schema plus the write tracking of ``track_writes``), so
    all have the same layout and the statements a kept connection prepared stay valid.
    """

    mode: Mode = "episode"

    def __init__(
        self,
        open_backend: Callable[[bytes | None, Callable[[], str] | None], Any],
        seed_data: Callable[[CRMBackend, int], Any],
        *,
        cached_data_sets: int = 64,
        keep_idle: int = 64,
    ) -> None:
        self._open_backend = open_backend
        self._seed_data = seed_data
        self._images: dict[int | None, bytes] = {}
        self._cached_data_sets = cached_data_sets
        self._building = threading.Lock()
        self._keep_idle = keep_idle
        self._idle: list[Any] = []
        base = open_backend(None, None)
        try:
            base.track_writes()
            self._images[None] = self._base = base.image()
        finally:
            base.close()

    def _image(self, seed: int | None) -> bytes:
        image = self._images.get(seed)
        if image is None:
            with self._building:  # one build at a time: a second session wants the same data set
                image = self._images.get(seed)
                if image is None:
                    image = self._images[seed] = self._build_image(seed)
                    if len(self._images) > self._cached_data_sets + 1:
                        del self._images[next(key for key in self._images if key is not None)]
        return image

    def _build_image(self, seed: int) -> bytes:
        backend = self._open_backend(self._base, None)
        try:
            self._seed_data(backend, seed)
            # The seeding is the starting point, not something an episode wrote.
            backend.forget_writes()
            return backend.image()
        finally:
            backend.close()

    def quick_to_open(self, seed: int | None) -> bool:
        """Whether ``open`` only copies a database built before (no seeding to wait for)."""
        return seed in self._images

    def open(self, seed: int | None, *, new_id: Callable[[], str] | None = None) -> CRMBackend:
        image = self._image(seed)
        try:
            backend = self._idle.pop()
        except IndexError:
            return self._open_backend(image, new_id)
        backend.load(image, new_id=new_id)
        return backend

    def release(self, backend: CRMBackend) -> None:
        if len(self._idle) < self._keep_idle:
            self._idle.append(backend)
        else:
            backend.close()

    def close(self) -> None:
        self._images.clear()
        while self._idle:
            self._idle.pop().close()


class SharedSource:
    """One durable CRM for every connection: reset neither erases nor seeds it."""

    mode: Mode = "store"

    def __init__(self, backend: CRMBackend) -> None:
        self._backend = backend

    def open(self, seed: int | None, *, new_id: Callable[[], str] | None = None) -> CRMBackend:
        return self._backend

    def release(self, backend: CRMBackend) -> None:
        pass

    def close(self) -> None:
        self._backend.close()


def _record_key(prefix: str, object_name: str) -> str:
    return prefix + object_name[0].upper() + object_name[1:]


class Session:
    """``tasks``: the catalog ``reset(seed)`` picks task episodes from (none: every episode is a sandbox);
    ``max_steps``: the default step limit of a task episode."""

    def __init__(
        self,
        source: CRMSource,
        *,
        tasks: TaskCatalog | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        api_url: str = "",
        advertise_extensions: bool = True,
    ) -> None:
        self._source = source
        self._tasks = tasks
        self._max_steps = max_steps
        self._api_url = api_url
        self._extensions = [EXTENSION] if advertise_extensions else []
        self._backend: CRMBackend | None = None
        self._new_episode(None, None)

    def _new_episode(self, episode: TaskEpisode | None, episode_id: str | None) -> None:
        self.episode_id = episode_id or str(uuid.uuid4())
        self.episode = episode
        self.step_count = 0
        self.done = False
        self.truncated = False
        self.last_success = False
        self.last_action: str | None = None
        self.reward: float | None = None
        self.grade: Grade | None = None
        # With shaping, the score the rewards so far add up to.
        self.potential = 0.0

    @property
    def backend(self) -> CRMBackend:
        if self._backend is None:
            self._backend = self._source.open(None)
        return self._backend

    def _task_for(self, options: ResetOptions) -> Task | None:
        if options.sandbox or (options.seed is None and options.task_id is None):
            return None
        if self._source.mode != "episode":
            if options.task_id is None:
                return None  # a shared store ignores the seed, as it always did
            raise FrameError(
                "VALIDATION_ERROR", "Task episodes need an episode server; this one serves a shared store"
            )
        if self._tasks is None:
            if options.task_id is None:
                return None
            raise FrameError("VALIDATION_ERROR", "This server has no tasks; reset with a seed only")
        return self._tasks.pick(options.seed, options.task_id)

    def reset_is_quick(self, options: ResetOptions) -> bool:
        """Whether ``reset(options)`` only copies databases built before (fine to run on the event loop)."""
        quick_to_open = getattr(self._source, "quick_to_open", None)
        if quick_to_open is None:
            return False
        try:
            task = self._task_for(options)
        except FrameError:
            return True  # refused at once
        if task is None:
            return bool(quick_to_open(options.seed))
        assert self._tasks is not None
        return bool(quick_to_open(task.crm_seed)) and self._tasks.has_baseline(task)

    def reset(self, options: ResetOptions | None = None) -> dict[str, Any]:
        options = options or ResetOptions()
        task = self._task_for(options)
        data_seed = task.crm_seed if task is not None else options.seed
        new_id = deterministic_ids(options.seed) if options.seed is not None else None
        fresh = self._source.open(data_seed, new_id=new_id)
        try:
            episode = None
            if task is not None:
                assert self._tasks is not None
                max_steps = options.max_steps or self._max_steps
                baseline = self._tasks.baseline(task, fresh)
                episode = TaskEpisode(task, baseline, max_steps, options.seed, options.shaping)
        except BaseException:
            self._source.release(fresh)
            raise
        if self._backend is not None:
            self._source.release(self._backend)
        self._backend = fresh
        self._new_episode(episode, options.episode_id)
        metadata: dict[str, Any] = {
            "server": SERVER_NAME,
            "mode": self._source.mode,
            "extensions": self._extensions,
            "episode_id": self.episode_id,
        }
        if episode is not None:
            metadata["task"] = task_metadata(episode.task, episode.max_steps)
            metadata["seed"] = options.seed
            metadata["shaping"] = episode.shaping
        return observation(success=True, data={}, metadata=metadata)

    def step(self, action: Any) -> dict[str, Any]:
        """The OBS of one ACTION; raises ``ActionShapeError`` for a malformed one.

        In a task episode every step's reward is a number: 0.0 until the episode ends, then the
        grader's score. A failed step counts towards the step limit but never ends the episode itself.
        """
        try:
            call: Call | CRMError = parse_action(action) if not isinstance(action, Call) else action
        except CRMError as exc:  # well-formed but meaningless: a failed step, not a protocol error
            call = exc
        if isinstance(action, dict):
            self.last_action = action.get("action_type")
        elif isinstance(call, Call):
            self.last_action = call.operation
        step_reward = 0.0 if self.episode is not None else None
        if self.done:
            return observation(
                success=False,
                data={},
                error="The episode has ended; send reset to start a new one",
                done=True,
                reward=step_reward,
            )
        self.step_count += 1
        answer: str | None = None
        try:
            if isinstance(call, CRMError):
                raise call
            body = self._execute(call)
        except CRMError as exc:
            self.last_success = False
            result = observation(success=False, data=exc.body(), error=exc.message, reward=step_reward)
        else:
            self.last_success = True
            if call.operation == "submit":
                self.done = True
                answer = call.answer
            result = observation(success=True, data=body, done=self.done, reward=step_reward)
        if self.episode is None:
            return result
        if not self.done and self.step_count >= self.episode.max_steps:
            self.done = self.truncated = True
        if self.done:
            self._finish(result, answer)
        elif (
            self.episode.shaping
            and self.last_success
            and isinstance(call, Call)
            and call.operation in _WRITES
        ):
            # Only a write can change the score; reads and failed steps earn 0.0 without grading.
            score = self.episode.grade(self.backend, None).score
            result["reward"], self.potential = round(score - self.potential, 4), score
        self.reward = result["reward"]
        return result

    def _finish(self, result: dict[str, Any], answer: str | None) -> None:
        assert self.episode is not None
        self.grade = self.episode.grade(self.backend, answer)
        result["done"] = True
        # Without shaping the last reward is the score; with it, what the score adds to the rewards so far.
        result["reward"] = round(self.grade.score - self.potential, 4)
        result["metadata"] = {
            "grade": grade_metadata(self.grade),
            "terminated": not self.truncated,
            "truncated": self.truncated,
        }

    def _execute(self, call: Call) -> dict[str, Any]:
        backend, name = self.backend, call.object_name
        if call.operation == "submit":
            return {"answer": call.answer}
        assert name is not None
        if call.operation == "list":
            return backend.list(name, **call.params)  # type: ignore[arg-type]
        assert call.operation == "create" or call.record_id is not None
        if call.operation == "get":
            return backend.get(name, call.record_id, **call.params)  # type: ignore[arg-type]
        if call.operation == "update":
            return backend.update(name, call.record_id, call.payload)  # type: ignore[arg-type]
        if call.operation == "complete":
            return backend.update(name, call.record_id, {"status": "DONE"})  # type: ignore[arg-type]
        if call.operation == "delete":
            return backend.delete(name, call.record_id)  # type: ignore[arg-type]
        return self._create(call)

    def _create(self, call: Call) -> dict[str, Any]:
        backend, name = self.backend, call.object_name
        assert name is not None
        # Check link targets first, so a bad target id fails the step before anything is written.
        for _, link in call.links:
            for key, target_id in link.items():
                backend.get(_LINK_OBJECTS[key], target_id)  # type: ignore[arg-type]
        body = backend.create(name, call.payload, idempotency_key=call.idempotency_key)  # type: ignore[arg-type]
        if not call.links:
            return body
        record_id = body["data"][_record_key("create", name)]["id"]
        owner_key = f"{name}Id"
        for number, (link_object, link) in enumerate(call.links):
            key = f"{call.idempotency_key}/link/{number}" if call.idempotency_key else None
            try:
                backend.create(link_object, {owner_key: record_id, **link}, idempotency_key=key)  # type: ignore[arg-type]
            except CRMError:
                backend.delete(name, record_id)  # type: ignore[arg-type]
                raise
        return body

    def state(self) -> dict[str, Any]:
        backend = self.backend
        counts = {
            f"{plural}_count": backend.list(name, limit=1)["totalCount"]  # type: ignore[arg-type]
            for name, plural in (
                ("company", "companies"),
                ("person", "people"),
                ("opportunity", "opportunities"),
            )
        }
        state = {
            "episode_id": self.episode_id,
            "step_count": self.step_count,
            "env_name": "crm-agent",
            "done": self.done,
            "terminated": self.done and not self.truncated,
            "truncated": self.truncated,
            "success": self.last_success,
            **counts,
            "last_action": self.last_action,
            "api_url": self._api_url,
        }
        if self.episode is not None:
            # In a task episode, success means the grader's full score, not the last step's outcome.
            state["success"] = self.grade is not None and self.grade.score >= 1.0
            state["task_id"] = self.episode.task.id
            state["max_steps"] = self.episode.max_steps
            state["reward"] = self.reward
        return state

    def close(self) -> None:
        if self._backend is not None:
            self._source.release(self._backend)
            self._backend = None
