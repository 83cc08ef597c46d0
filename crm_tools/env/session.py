"""One connection's episode: the CRM it acts on, its counters, and what each frame does to them.

Plain synchronous code over a ``CRMBackend``; the server only moves frames in and out of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal, Protocol

from crm_tools.backends.base import CRMBackend
from crm_tools.env.actions import EXTENSION, Call, parse_action
from crm_tools.env.protocol import observation
from crm_tools.errors import CRMError

Mode = Literal["episode", "store"]
SERVER_NAME = "converso-crm-env"

_LINK_OBJECTS = {"personId": "person", "companyId": "company", "opportunityId": "opportunity"}


class CRMSource(Protocol):
    """Where sessions get their CRM: a fresh one per episode, or one shared durable store."""

    mode: Mode

    def open(self, seed: int | None) -> CRMBackend: ...

    def release(self, backend: CRMBackend) -> None: ...

    def close(self) -> None: ...


class EpisodeSource:
    """A fresh in-memory CRM per episode, filled with the demo data set of the seed."""

    mode: Mode = "episode"

    def __init__(self, make_backend: Callable[[], CRMBackend], seed_data: Callable[[CRMBackend, int], Any]):
        self._make_backend = make_backend
        self._seed_data = seed_data

    def open(self, seed: int | None) -> CRMBackend:
        backend = self._make_backend()
        try:
            if seed is not None:
                self._seed_data(backend, seed)
        except BaseException:
            backend.close()
            raise
        return backend

    def release(self, backend: CRMBackend) -> None:
        backend.close()

    def close(self) -> None:
        pass


class SharedSource:
    """One durable CRM for every connection: reset neither erases nor seeds it."""

    mode: Mode = "store"

    def __init__(self, backend: CRMBackend) -> None:
        self._backend = backend

    def open(self, seed: int | None) -> CRMBackend:
        return self._backend

    def release(self, backend: CRMBackend) -> None:
        pass

    def close(self) -> None:
        self._backend.close()


def _record_key(prefix: str, object_name: str) -> str:
    return prefix + object_name[0].upper() + object_name[1:]


class Session:
    def __init__(self, source: CRMSource, *, api_url: str = "", advertise_extensions: bool = True) -> None:
        self._source = source
        self._api_url = api_url
        self._extensions = [EXTENSION] if advertise_extensions else []
        self._backend: CRMBackend | None = None
        self._new_episode()

    def _new_episode(self) -> None:
        self.episode_id = str(uuid.uuid4())
        self.step_count = 0
        self.done = False
        self.last_success = False
        self.last_action: str | None = None

    @property
    def backend(self) -> CRMBackend:
        if self._backend is None:
            self._backend = self._source.open(None)
        return self._backend

    def reset(self, seed: int | None) -> dict[str, Any]:
        fresh = self._source.open(seed)
        if self._backend is not None:
            self._source.release(self._backend)
        self._backend = fresh
        self._new_episode()
        return observation(
            success=True,
            data={},
            metadata={"server": SERVER_NAME, "mode": self._source.mode, "extensions": self._extensions},
        )

    def step(self, action: Any) -> dict[str, Any]:
        """The OBS of one ACTION; raises ``ActionShapeError`` for a malformed one.

        An action that is well-formed but meaningless (a ``get`` without ``record_id``, a field
        another action type takes) fails the step like any CRM error: the agent reads why.
        """
        try:
            call = parse_action(action) if not isinstance(action, Call) else action
        except CRMError as exc:
            call, refused = None, exc
        self.last_action = action.get("action_type") if isinstance(action, dict) else action.operation
        if self.done:
            return observation(
                success=False,
                data={},
                error="The episode ended with submit_answer; send reset to start a new one",
                done=True,
            )
        self.step_count += 1
        try:
            if call is None:
                raise refused
            body = self._execute(call)
        except CRMError as exc:
            self.last_success = False
            return observation(success=False, data=exc.body(), error=exc.message)
        self.last_success = True
        if call.operation == "submit":
            self.done = True
        return observation(success=True, data=body, done=self.done)

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
        return {
            "episode_id": self.episode_id,
            "step_count": self.step_count,
            "env_name": "crm-agent",
            "done": self.done,
            "terminated": self.done,
            "truncated": False,
            "success": self.last_success,
            **counts,
            "last_action": self.last_action,
            "api_url": self._api_url,
        }

    def close(self) -> None:
        if self._backend is not None:
            self._source.release(self._backend)
            self._backend = None
