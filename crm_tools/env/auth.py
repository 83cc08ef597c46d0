"""API keys carried in the ``crm-v1.<key>`` WebSocket subprotocol, checked in constant time."""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable, Sequence

from crm_tools.env.protocol import SUBPROTOCOL_PREFIX

ENV_VAR = "CRM_ENV_API_KEYS"
# A subprotocol is an HTTP token: a key with other characters could never be offered.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


class ApiKeys:
    """The keys a server accepts. Never logs or prints them."""

    def __init__(self, keys: Iterable[str]) -> None:
        cleaned = [k.strip() for k in keys if k and k.strip()]
        for key in cleaned:
            if not _TOKEN.match(key):
                raise ValueError(
                    "An API key may only contain letters, digits and !#$%&'*+-.^_`|~ "
                    "(it travels as a WebSocket subprotocol)"
                )
        if not cleaned:
            raise ValueError(f"At least one API key is required (--api-key KEY or {ENV_VAR}=KEY1,KEY2)")
        self._keys = tuple(k.encode() for k in cleaned)

    @classmethod
    def from_sources(cls, cli_keys: Sequence[str], environ: dict[str, str] | None = None) -> ApiKeys:
        env_value = (os.environ if environ is None else environ).get(ENV_VAR, "")
        return cls([*cli_keys, *re.split(r"[,\s]+", env_value)])

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"ApiKeys(<{len(self._keys)} keys>)"

    def accepts(self, key: str) -> bool:
        candidate = key.encode()
        # Compare against every key, without stopping early, so timing says nothing about which matched.
        matched = False
        for known in self._keys:
            matched |= hmac.compare_digest(candidate, known)
        return matched

    def authorized_subprotocol(self, offered: Sequence[str]) -> str | None:
        """The offered ``crm-v1.<key>`` subprotocol carrying an accepted key, if any."""
        for subprotocol in offered:
            if subprotocol.startswith(SUBPROTOCOL_PREFIX) and self.accepts(
                subprotocol[len(SUBPROTOCOL_PREFIX) :]
            ):
                return subprotocol
        return None
