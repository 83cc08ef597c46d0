"""Token usage per episode comes from what the provider reports, cached prompt tokens included: a minimal
OpenAI-compatible endpoint reports a prompt-cache hit the way OpenAI does, and ChatOpenAI's parsing of it
reaches the counter."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_openai import ChatOpenAI

from converso.evaluation.usage import UsageCounter

USAGE = {
    "prompt_tokens": 1500,
    "completion_tokens": 7,
    "total_tokens": 1507,
    "prompt_tokens_details": {"cached_tokens": 1280},
}


class _CachingProvider(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
                ],
                "usage": USAGE,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CachingProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_cached_prompt_tokens_are_counted(provider_url: str) -> None:
    counter = UsageCounter()
    model = ChatOpenAI(model="m", base_url=provider_url, api_key="test", max_retries=0)
    model.invoke("hello", config={"callbacks": [counter]})
    model.invoke("again", config={"callbacks": [counter]})
    usage = counter.usage
    assert (usage.llm_calls, usage.prompt_tokens, usage.cached_tokens, usage.completion_tokens) == (
        2,
        3000,
        2560,
        14,
    )
