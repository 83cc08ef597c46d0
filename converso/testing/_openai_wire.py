"""The OpenAI chat-completions wire format: response bodies and stream chunks built from an Answer."""

from __future__ import annotations

import json
from typing import Any

from converso.testing._openai_script import Answer, ToolCall


def tool_call_id(number: int, index: int, call: ToolCall) -> str:
    return call.id or f"call_{number}_{index}"


def arguments_json(call: ToolCall) -> str:
    if isinstance(call.args, str):
        return call.args
    return json.dumps(dict(call.args), ensure_ascii=False)


def estimate_usage(request: dict[str, Any], answer: Answer) -> dict[str, int]:
    """Rough token counts (4 characters a token): deterministic, good enough for usage plumbing tests."""
    prompt_chars = len(json.dumps(request.get("messages", []))) + len(json.dumps(request.get("tools", [])))
    completion_chars = len(answer.text or "") + sum(
        len(c.name) + len(arguments_json(c)) for c in answer.tool_calls
    )
    prompt = max(1, prompt_chars // 4)
    completion = max(1, completion_chars // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish_reason(answer: Answer) -> str:
    return "tool_calls" if answer.tool_calls else "stop"


def completion_body(
    answer: Answer, *, number: int, model: str, created: int, usage: dict[str, int]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": tool_call_id(number, i, c),
                "type": "function",
                "function": {"name": c.name, "arguments": arguments_json(c)},
            }
            for i, c in enumerate(answer.tool_calls)
        ]
    return {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(answer)}
        ],
        "usage": usage,
    }


def _pieces(value: str, size: int) -> list[str]:
    return [value[i : i + size] for i in range(0, len(value), size)]


def stream_chunks(
    answer: Answer,
    *,
    number: int,
    model: str,
    created: int,
    chunk_chars: int,
    usage: dict[str, int] | None,
) -> list[dict[str, Any]]:
    """The ``data:`` events of a streamed answer, without the closing ``[DONE]``.

    Text arrives in ``chunk_chars`` pieces; each tool call first as a delta carrying its index, id and
    name, then its arguments in ``chunk_chars`` pieces, so a client has to reassemble them by index.
    """
    base = {
        "id": f"chatcmpl-scripted-{number}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    chunks = [chunk({"role": "assistant", "content": "" if answer.text is not None else None})]
    chunks += [chunk({"content": piece}) for piece in _pieces(answer.text or "", chunk_chars)]
    for index, call in enumerate(answer.tool_calls):
        header = {
            "index": index,
            "id": tool_call_id(number, index, call),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(chunk({"tool_calls": [header]}))
        chunks += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in _pieces(arguments_json(call), chunk_chars)
        ]
    chunks.append(chunk({}, _finish_reason(answer)))
    if usage is not None:
        # With stream_options.include_usage, OpenAI sends usage in one last chunk with no choices.
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def error_body(message: str, *, type: str, code: str | int | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def error_type_for(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status in (401, 403):
        return "authentication_error"
    if status == 404:
        return "not_found_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"
