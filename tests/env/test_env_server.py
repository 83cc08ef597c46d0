"""The CRM env server (crm_tools.env_server) against real WebSocket clients on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import logging

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from crm_tools.env_server import BackgroundEnvServer
from tests.env.conftest import API_KEY, open_ws, send, step


def _http_get(server: BackgroundEnvServer, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server.port, timeout=5)  # type: ignore[union-attr]
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_healthz_answers_200_over_plain_http(env_server: BackgroundEnvServer) -> None:
    assert _http_get(env_server, "/healthz") == (200, "ok\n")


@pytest.mark.parametrize("key", ["wrong-key", ""])
def test_a_wrong_or_missing_key_is_refused_with_401(env_server: BackgroundEnvServer, key: str) -> None:
    with pytest.raises(InvalidStatus) as raised:
        open_ws(env_server.url, key)
    assert raised.value.response.status_code == 401


def test_no_subprotocol_at_all_is_refused_with_401(env_server: BackgroundEnvServer) -> None:
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as raised:
        connect(f"{env_server.url}/ws", open_timeout=5, proxy=None)
    assert raised.value.response.status_code == 401


def test_the_server_selects_the_offered_key_subprotocol(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        assert ws.subprotocol == f"crm-v1.{API_KEY}"


def test_any_of_several_keys_is_accepted() -> None:
    with BackgroundEnvServer(api_keys=["first", "second"]) as server, open_ws(server.url, "second") as ws:
        assert send(ws, {"type": "state"})["type"] == "state"


def test_paths_other_than_ws_are_not_found(env_server: BackgroundEnvServer) -> None:
    assert _http_get(env_server, "/other")[0] == 404


def test_keys_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with BackgroundEnvServer(api_keys=["s3cret-key"]) as server:
        with open_ws(server.url, "s3cret-key") as ws:
            send(ws, {"type": "state"})
        with pytest.raises(InvalidStatus):
            open_ws(server.url, "s3cret-guess")
    server_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("crm_tools"))
    assert "Sec-WebSocket-Protocol" in server_log  # websockets did log the handshake headers
    assert "s3cret" not in server_log


def test_reset_without_seed_gives_an_empty_crm_and_advertises_the_extension(
    env_server: BackgroundEnvServer,
) -> None:
    with open_ws(env_server.url) as ws:
        reply = send(ws, {"type": "reset", "data": {}})
        assert reply["type"] == "observation"
        assert reply["data"]["reward"] is None and reply["data"]["done"] is False
        metadata = reply["data"]["observation"]["metadata"]
        assert metadata["mode"] == "episode" and "converso-actions-1" in metadata["extensions"]
        assert step(ws, action_type="list_companies")["data"]["totalCount"] == 0


def test_a_sandbox_reset_with_a_seed_gives_the_same_records_and_ids_each_time(
    env_server: BackgroundEnvServer,
) -> None:
    pages = []
    for _ in range(2):
        with open_ws(env_server.url) as ws:
            send(ws, {"type": "reset", "data": {"seed": 7, "sandbox": True}})
            pages.append(step(ws, action_type="list_people", limit=20, order_by="id")["data"])
    assert pages[0]["totalCount"] > 0
    assert pages[0]["data"] == pages[1]["data"]


def test_a_step_answers_with_the_twenty_shaped_body(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        obs = step(ws, action_type="create_company", company_name="Acme", company_employees=10)
        assert obs["success"] is True and obs["error"] is None
        company = obs["data"]["data"]["createCompany"]
        assert (company["name"], company["employees"]) == ("Acme", 10)
        listed = step(ws, action_type="list_companies", filter="employees[gte]:5")["data"]
        assert [c["id"] for c in listed["data"]["companies"]] == [company["id"]]
        assert set(listed["pageInfo"]) == {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}


def test_a_crm_failure_is_an_unsuccessful_observation_with_the_error_body(
    env_server: BackgroundEnvServer,
) -> None:
    with open_ws(env_server.url) as ws:
        obs = step(ws, action_type="list_opportunities", filter="stage[in]:NEW")
        assert obs["success"] is False and "array value expected" in obs["error"]
        assert obs["data"]["statusCode"] == 400 and obs["data"]["error"] == "BadRequestException"


def test_a_missing_record_is_a_404_body(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        obs = step(ws, action_type="get_person", record_id="00000000-0000-4000-8000-000000000000")
        assert obs["success"] is False and obs["data"]["statusCode"] == 404


def test_create_note_links_the_note_to_its_targets(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        company = step(ws, action_type="create_company", company_name="Acme")["data"]["data"]["createCompany"]
        note = step(ws, action_type="create_note", note_body="call", note_target_company_id=company["id"])
        note_id = note["data"]["data"]["createNote"]["id"]
        targets = step(ws, action_type="list_note_targets", filter=f"noteId[eq]:{note_id}")["data"]
        assert [t["companyId"] for t in targets["data"]["noteTargets"]] == [company["id"]]


def test_a_note_with_an_unknown_target_is_not_written(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        obs = step(
            ws,
            action_type="create_note",
            note_body="x",
            note_target_person_id="00000000-0000-4000-8000-000000000000",
        )
        assert obs["success"] is False
        assert step(ws, action_type="list_notes")["data"]["totalCount"] == 0


def test_complete_task_sets_status_done(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        task = step(ws, action_type="create_task", task_title="Call back")["data"]["data"]["createTask"]
        assert task["status"] == "TODO"
        done = step(ws, action_type="complete_task", record_id=task["id"])["data"]["data"]["updateTask"]
        assert done["status"] == "DONE"


def test_submit_answer_ends_the_episode_until_reset(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        reply = send(ws, {"type": "step", "data": {"action_type": "submit_answer", "answer": "42"}})
        assert reply["data"]["done"] is True and reply["data"]["observation"]["data"] == {"answer": "42"}
        after = step(ws, action_type="list_companies")
        assert after["success"] is False and after["done"] is True and "reset" in after["error"]
        send(ws, {"type": "reset"})
        assert step(ws, action_type="list_companies")["success"] is True


def test_state_reports_counts_steps_and_last_action(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        step(ws, action_type="create_company", company_name="A")
        step(ws, action_type="create_person", person_first_name="Ada")
        state = send(ws, {"type": "state"})["data"]
    assert state["env_name"] == "crm-agent" and state["step_count"] == 2
    assert (state["companies_count"], state["people_count"], state["opportunities_count"]) == (1, 1, 0)
    assert state["last_action"] == "create_person" and state["done"] is False
    assert state["api_url"].endswith("/ws")
    assert set(state) == {
        "episode_id", "step_count", "env_name", "done", "terminated", "truncated", "success",
        "companies_count", "people_count", "opportunities_count", "last_action", "api_url",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "INVALID_JSON"),
        (b"\x00\x01", "INVALID_JSON"),
        ({"type": "fly"}, "UNKNOWN_TYPE"),
        ({"type": "step", "data": {"action_type": "fly_company"}}, "VALIDATION_ERROR"),
        (
            {"type": "step", "data": {"action_type": "create_company", "company_employees": "many"}},
            "VALIDATION_ERROR",
        ),
        ({"type": "step", "data": "list_companies"}, "VALIDATION_ERROR"),
        ({"type": "reset", "data": {"seed": "x"}}, "VALIDATION_ERROR"),
        # Deeply nested JSON within the frame size limit (found by an attack run).
        ("[" * 5000 + "]" * 5000, "INVALID_JSON"),
        ('{"a":' * 2500 + "1" + "}" * 2500, "INVALID_JSON"),
        (
            '{"type": "step", "data": {"action_type": "list_companies", "filter": '
            + "[" * 900
            + "]" * 900
            + "}}",
            "INVALID_JSON",
        ),
        (
            '{"type": "step", "data": {"action_type": "create_company", "company_name": '
            + "[" * 40
            + "]" * 40
            + "}}",
            "INVALID_JSON",
        ),
    ],
)
def test_a_bad_frame_gets_its_error_code_and_the_connection_survives(
    env_server: BackgroundEnvServer, frame: object, code: str
) -> None:
    with open_ws(env_server.url) as ws:
        step(ws, action_type="create_company", company_name="Kept")
        reply = send(ws, frame if isinstance(frame, str | bytes) else json.dumps(frame))
        assert reply["type"] == "error" and reply["data"]["code"] == code and reply["data"]["message"]
        assert send(ws, {"type": "state"})["data"]["companies_count"] == 1


def test_close_frame_makes_the_server_close_the_connection(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        ws.send(json.dumps({"type": "close"}))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1000


def test_sessions_are_isolated_episodes(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as first, open_ws(env_server.url) as second:
        step(first, action_type="create_company", company_name="Only in first")
        assert step(second, action_type="list_companies")["data"]["totalCount"] == 0
        assert step(first, action_type="list_companies")["data"]["totalCount"] == 1


def test_a_closed_session_frees_its_slot(env_server: BackgroundEnvServer) -> None:
    with open_ws(env_server.url) as ws:
        send(ws, {"type": "state"})
        assert env_server.server.session_count == 1  # type: ignore[union-attr]
    with open_ws(env_server.url) as ws:
        send(ws, {"type": "state"})  # the first session has been released by now
        assert env_server.server.session_count == 1  # type: ignore[union-attr]


def test_over_capacity_a_connection_gets_capacity_reached_and_is_closed() -> None:
    with BackgroundEnvServer(api_keys=[API_KEY], max_sessions=1) as server, open_ws(server.url) as first:
        send(first, {"type": "state"})
        with open_ws(server.url) as second:
            reply = json.loads(second.recv(timeout=5))
            assert reply == {
                "type": "error",
                "data": {"code": "CAPACITY_REACHED", "message": reply["data"]["message"]},
            }
            with pytest.raises(ConnectionClosed):
                second.recv(timeout=5)
            assert second.close_code == 1013
        assert send(first, {"type": "state"})["type"] == "state"


def test_an_oversized_frame_closes_the_connection_with_1009() -> None:
    with BackgroundEnvServer(api_keys=[API_KEY], max_frame_bytes=1000) as server, open_ws(server.url) as ws:
        ws.send(
            json.dumps(
                {"type": "step", "data": {"action_type": "create_company", "company_name": "x" * 2000}}
            )
        )
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
        assert ws.close_code == 1009


def test_store_mode_shares_one_crm_that_survives_connections_resets_and_restarts(tmp_path) -> None:
    store = f"sqlite:///{tmp_path / 'crm.db'}"
    with BackgroundEnvServer(api_keys=[API_KEY], store=store) as server:
        with open_ws(server.url) as ws:
            assert (
                send(ws, {"type": "reset", "data": {"seed": 3}})["data"]["observation"]["metadata"]["mode"]
                == "store"
            )
            step(ws, action_type="create_company", company_name="Durable")
        with open_ws(server.url) as ws:
            send(ws, {"type": "reset"})
            assert step(ws, action_type="list_companies")["data"]["totalCount"] == 1
    with BackgroundEnvServer(api_keys=[API_KEY], store=store) as server, open_ws(server.url) as ws:
        names = [c["name"] for c in step(ws, action_type="list_companies")["data"]["data"]["companies"]]
        assert names == ["Durable"]


def test_shutdown_closes_idle_sessions_with_going_away() -> None:
    server = BackgroundEnvServer(api_keys=[API_KEY]).__enter__()
    ws = open_ws(server.url)
    send(ws, {"type": "state"})
    server.stop()
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=5)
    assert ws.close_code == 1001


def test_shutdown_lets_an_in_flight_frame_finish_and_answer_before_closing() -> None:
    import threading
    import time

    server = BackgroundEnvServer(api_keys=[API_KEY]).__enter__()
    ws = open_ws(server.url)
    # Seeding an episode takes a few hundred milliseconds in a worker thread: the stop comes while the
    # server is busy with it (were the reset done first, the reply would still come before the close).
    ws.send(json.dumps({"type": "reset", "data": {"seed": 5, "sandbox": True}}))
    # (Never seen busy within the deadline: the reset was answered in between, before the stop.)
    deadline = time.monotonic() + 5
    while server.server.busy_session_count == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    reply = json.loads(ws.recv(timeout=10))
    assert reply["type"] == "observation" and reply["data"]["observation"]["success"] is True
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)
    assert ws.close_code == 1001
    stopper.join(10)
