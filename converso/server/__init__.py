"""`converso serve`: a WebSocket chat server and an embeddable web widget over the engine's threads."""

from converso.server.app import ChatServer, ServerConfig, ThreadAgent
from converso.server.limits import Limits
from converso.server.protocol import PROTOCOL_VERSION, ErrorCode

__all__ = ["PROTOCOL_VERSION", "ChatServer", "ErrorCode", "Limits", "ServerConfig", "ThreadAgent"]
