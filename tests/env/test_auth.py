"""API keys in the crm-v1.<key> subprotocol (crm_tools.env.auth)."""

from __future__ import annotations

import pytest

from crm_tools.env.auth import ApiKeys


def test_the_offered_subprotocol_with_an_accepted_key_is_chosen() -> None:
    keys = ApiKeys(["alpha", "beta"])
    assert keys.authorized_subprotocol(["chat", "crm-v1.wrong", "crm-v1.beta"]) == "crm-v1.beta"


def test_no_accepted_key_means_no_subprotocol() -> None:
    keys = ApiKeys(["alpha"])
    assert keys.authorized_subprotocol([]) is None
    assert keys.authorized_subprotocol(["crm-v1.alph", "crm-v1.alphaa", "alpha", "crm-v2.alpha"]) is None


def test_keys_come_from_the_command_line_and_the_environment() -> None:
    keys = ApiKeys.from_sources(["cli"], {"CRM_ENV_API_KEYS": "one, two"})
    assert len(keys) == 3 and keys.accepts("two") and keys.accepts("cli")


def test_no_key_at_all_is_refused_with_how_to_give_one() -> None:
    with pytest.raises(ValueError, match="CRM_ENV_API_KEYS"):
        ApiKeys.from_sources([], {})


def test_a_key_that_cannot_travel_as_a_subprotocol_is_refused() -> None:
    with pytest.raises(ValueError, match="may only contain"):
        ApiKeys(["has space"])


def test_repr_never_shows_a_key() -> None:
    assert "secret" not in repr(ApiKeys(["secret"]))
