"""Per-visitor identities for a public widget: the host site signs a short-lived token per visitor with a
secret it shares with `converso serve`, instead of every visitor presenting the same client key.

A token is ``v1.<payload>.<signature>``: the payload is base64url JSON ``{"sub": VISITOR_ID, "exp": UNIX}``,
the signature base64url HMAC-SHA256 of ``v1.<payload>`` under the secret. A visitor then owns its
threads and has its own message and connection budgets, as a key would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

VERSION = "v1"
MAX_VISITOR_ID = 128


class InvalidVisitorToken(ValueError):
    """The token is malformed, signed with another secret, or expired; the message says which."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, signed: str) -> str:
    return _b64(hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest())


def sign_visitor_token(
    secret: str, visitor_id: str, *, ttl_seconds: int = 3600, now: float | None = None
) -> str:
    """What the host site's backend gives its page for one visitor (any language can do the same)."""
    if not secret:
        raise ValueError("a visitor token needs a non-empty secret")
    if not visitor_id or len(visitor_id) > MAX_VISITOR_ID:
        raise ValueError(f"a visitor id is 1-{MAX_VISITOR_ID} characters")
    issued = time.time() if now is None else now
    payload = _b64(
        json.dumps({"sub": visitor_id, "exp": int(issued + ttl_seconds)}, separators=(",", ":")).encode()
    )
    signed = f"{VERSION}.{payload}"
    return f"{signed}.{_signature(secret, signed)}"


def verify_visitor_token(secret: str, token: str, *, clock: Callable[[], float] = time.time) -> str:
    """The visitor id of a valid token; raises InvalidVisitorToken otherwise."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidVisitorToken("The visitor token is not of the form v1.PAYLOAD.SIGNATURE.")
    signed = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_signature(secret, signed), parts[2]):
        raise InvalidVisitorToken("The visitor token's signature is not valid for this server.")
    try:
        claims = json.loads(_unb64(parts[1]))
        visitor, expires = claims["sub"], claims["exp"]
    except (ValueError, KeyError, TypeError):
        raise InvalidVisitorToken('The visitor token\'s payload is not {"sub": ..., "exp": ...}.') from None
    if not isinstance(visitor, str) or not visitor or len(visitor) > MAX_VISITOR_ID:
        raise InvalidVisitorToken(f"The visitor token's sub must be 1-{MAX_VISITOR_ID} characters.")
    if not isinstance(expires, int | float) or expires <= clock():
        raise InvalidVisitorToken("The visitor token has expired; get a new one from the site.")
    return visitor
