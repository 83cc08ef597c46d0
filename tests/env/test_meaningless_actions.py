"""Actions that parse but cannot run fail the step (``success: false`` with the reason), never the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_tools.backends.sql import SqlBackend
from crm_tools.env.actions import ACTIONS, KNOWN_FIELDS, ActionShapeError
from crm_tools.env.protocol import ResetOptions
from crm_tools.env.session import EpisodeSource, Session
from crm_tools.env_server import BackgroundEnvServer
from crm_tools.seed import seed_demo_data
from tests.env.conftest import open_ws, send


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    source = EpisodeSource(
        lambda image, new_id: SqlBackend("sqlite://", image=image, new_id=new_id), seed_demo_data
    )
    live = Session(source)
    live.reset(ResetOptions(seed=3, sandbox=True))
    yield live
    live.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "1", "-1", "2026-01-01", "00000000-0000-0000-0000-000000000000", "NEW", "%"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5,
)
actions = st.builds(
    lambda action_type, fields: {"action_type": action_type, **fields},
    st.sampled_from(sorted(ACTIONS)),
    st.dictionaries(st.sampled_from(sorted(KNOWN_FIELDS - {"action_type"})), json_values, max_size=5),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(action=actions)
def test_every_well_formed_action_either_runs_or_fails_the_step(
    session: Session, action: dict[str, Any]
) -> None:
    session.done = False
    try:
        obs = session.step(action)
    except ActionShapeError as exc:
        assert str(exc)
        return
    assert obs["success"] or obs["error"], obs


# Cases of the attack run: each came back as a protocol EXECUTION_ERROR ("see the server log").
MEANINGLESS = [
    ({"action_type": "get_company"}, "'record_id'"),
    ({"action_type": "get_person", "record_id": ""}, "'record_id'"),
    ({"action_type": "delete_opportunity", "record_id": 7}, "'record_id'"),
    ({"action_type": "complete_task"}, "'record_id'"),
    ({"action_type": "update_company", "record_id": "x", "clear_fields": ["person_email"]}, "'person_email'"),
    ({"action_type": "create_company", "company_name": "A", "clear_fields": ["company_name"]}, "'clear_fields'"),
    ({"action_type": "list_companies", "cursor": "a", "starting_after": "b"}, "'cursor'"),
    ({"action_type": "create_company", "company_name": "A", "record_id": "x"}, "'record_id'"),
    ({"action_type": "list_people", "person_first_name": "Ada"}, "'person_first_name'"),
    ({"action_type": "create_company", "person_email": "a@b.co"}, "'person_email'"),
    ({"action_type": "list_notes", "answer": "42"}, "'answer'"),
    ({"action_type": "update_task", "record_id": "x", "idempotency_key": "k"}, "'idempotency_key'"),
    (
        {"action_type": "create_opportunity", "opportunity_name": "O", "opportunity_amount": 1,
         "opportunity_amount_micros": 1_000_000},
        "'opportunity_amount'",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("action", "named"), MEANINGLESS)
def test_a_meaningless_action_fails_the_step_naming_the_field(
    env_server: BackgroundEnvServer, action: dict[str, Any], named: str
) -> None:
    with open_ws(env_server.url) as ws:
        reply = send(ws, {"type": "step", "data": action})
        assert reply["type"] == "observation", reply
        obs = reply["data"]["observation"]
        assert obs["success"] is False and named in obs["error"]
        assert obs["data"]["statusCode"] == 400 and obs["data"]["messages"] == [obs["error"]]
        assert send(ws, {"type": "state"})["data"]["step_count"] == 1
