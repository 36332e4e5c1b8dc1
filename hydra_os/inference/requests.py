"""Validation of OpenAI request bodies at the gateway boundary (pydantic; unknown fields pass through).

Only what the router relies on is checked: ``model``, ``messages`` / ``prompt`` / ``input``, ``stream``,
``max_tokens``, and the types of the common sampling fields (``temperature``, ``top_p``, ``n``), so a wrong
one is the client's 400 naming the field whichever engine would have got it (and also when no engine does:
``hydra/assistant`` with no model up answers from memory). A failure is a :class:`BadRequestError` whose
``param`` names the field, e.g. ``messages.1.role``. The parsed dict, not the model, travels on (so nothing
is re-serialised needlessly).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from hydra_os.inference.errors import BadRequestError
from hydra_os.inference.router import Kind


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Message(_Loose):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: StrictStr | list[dict[str, Any]] | None = None


class _Common(_Loose):
    model: StrictStr = Field(min_length=1)
    stream: StrictBool | None = None
    max_tokens: StrictInt | None = Field(default=None, ge=1)
    max_completion_tokens: StrictInt | None = Field(default=None, ge=1)
    temperature: StrictFloat | None = Field(default=None, ge=0)
    top_p: StrictFloat | None = Field(default=None, ge=0, le=1)
    n: StrictInt | None = Field(default=None, ge=1)


class ChatRequest(_Common):
    messages: list[_Message] = Field(min_length=1)


class CompletionRequest(_Common):
    prompt: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]


class EmbeddingRequest(_Loose):
    model: StrictStr = Field(min_length=1)
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]


_BRANCH = re.compile(r"^(?:str|int|bool|float|none|[a-z_]+\[.*\]|function-\w+\[.*)$")
_MODELS: dict[Kind, type[BaseModel]] = {
    "chat": ChatRequest,
    "completions": CompletionRequest,
    "embeddings": EmbeddingRequest,
}
_EXPECTED = {
    "model": "a model name, an alias or 'hydra/auto'",
    "messages": "a non-empty list of {role, content} objects",
    "prompt": "a string or a list of strings",
    "input": "a string or a list of strings",
    "stream": "true or false",
    "max_tokens": "an integer >= 1",
    "max_completion_tokens": "an integer >= 1",
    "temperature": "a number >= 0",
    "top_p": "a number from 0 to 1",
    "n": "an integer >= 1",
}


def _no_lone_surrogates(value: Any, where: str) -> None:
    """JSON may carry a lone UTF-16 surrogate (``"\\ud800"``); it is not text (it cannot be encoded,
    forwarded or hashed), so such a string is the client's error, named by its field."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            field = where or "(body)"
            raise BadRequestError(f"{field}: contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not "
                                  "text; send valid Unicode", param=field) from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_lone_surrogates(k, where)
            _no_lone_surrogates(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_lone_surrogates(v, f"{where}.{i}")


def parse(kind: Kind, raw: bytes) -> dict[str, Any]:
    """The request body as a dict, validated; raises :class:`BadRequestError` naming the field."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequestError(f"the request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequestError("the request body must be a JSON object")
    if b"\\ud" in raw or b"\\uD" in raw:  # a \uDxxx escape: maybe a lone surrogate (rare; checked in full)
        _no_lone_surrogates(body, "")
    try:
        _MODELS[kind].model_validate(body)
    except ValidationError as e:
        err = e.errors()[0]
        loc = [str(p) for p in err["loc"]]
        # drop pydantic's union-branch labels ("str", "list[str]" ...) from the path
        loc = [p for p in loc if not _BRANCH.match(p)]
        field = ".".join(loc) or "(body)"
        head = loc[0] if loc else ""
        if err["type"] == "missing":
            msg = f"{field} is required"
        elif len(loc) == 1 and head in _EXPECTED:
            msg = f"{field}: expected {_EXPECTED[head]}, got {json.dumps(body.get(head))[:80]}"
        else:
            msg = f"{field}: {err['msg']}"
        raise BadRequestError(msg, param=field) from None
    return body
