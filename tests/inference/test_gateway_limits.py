"""A client cannot make the gateway read what it should not: the token is checked from the headers
before the body is read, and bodies over ``api.max_body_bytes`` get 413 (OpenAI's shape) at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable

import pytest

from hydra_os.bus.client import Bus
from hydra_os.config import load_settings
from hydra_os.errors import ConfigError
from tests.inference.gateway_harness import TOKEN, Harness, gateway_harness

BACKEND = [("mid", "qwen-8b", "standard", {"context_length": 32768})]
LIMIT = 64 * 1024


async def raw_request(url: str, head: str, part: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` and only ``part`` of the body it announces; read the answer without sending the rest."""
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head.encode() + b"\r\n" + part)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), headers, body
    finally:
        writer.close()


def _raw(h: Harness, head: str, part: bytes) -> Awaitable[tuple[int, dict[str, str], bytes]]:
    return raw_request(h.url, head, part)


def post_head(length: int, token: str | None, path: str = "/v1/chat/completions") -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {length}\r\n")


@pytest.mark.parametrize("hot", [True, False])
async def test_no_token_is_refused_before_the_body_is_read(bus: Bus, hot: bool) -> None:
    async with gateway_harness(bus, BACKEND, hot=hot, max_body=LIMIT) as h:
        # announces 50 KB (under the cap), sends 10 bytes: the 401 must not wait for the rest
        status, headers, body = await _raw(h, post_head(50_000, None), b'{"model": ')
        assert status == 401
        assert headers["www-authenticate"] == "Bearer"
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
        status, _, _ = await _raw(h, post_head(50_000, "wrong-token"), b"{")
        assert status == 401
        assert h.backends["mid"].log == []


@pytest.mark.parametrize("hot", [True, False])
async def test_bodies_over_the_cap_get_413_in_openai_shape(bus: Bus, hot: bool) -> None:
    async with gateway_harness(bus, BACKEND, hot=hot, max_body=LIMIT) as h:
        # a Content-Length over the cap: refused before any of it is read, connection closed
        status, headers, body = await _raw(h, post_head(150 * 1024 * 1024, TOKEN), b"{")
        assert status == 413 and headers["connection"] == "close"
        err = json.loads(body)["error"]
        assert err["code"] == "request_too_large" and err["type"] == "invalid_request_error"
        assert str(LIMIT) in err["message"] and "api.max_body_bytes" in err["message"]

        msg = {"model": "qwen-8b", "messages": [{"role": "user", "content": "x" * (LIMIT // 2)}]}
        payload = json.dumps(msg).encode()

        async def chunked(data: bytes, times: int) -> AsyncIterator[bytes]:
            for _ in range(times):  # no Content-Length: the count of bytes read is what trips
                for i in range(0, len(data), 4096):
                    yield data[i:i + 4096]

        async with h.client() as c:
            r = await c.post("/v1/chat/completions", content=chunked(payload, 3))
            assert r.status_code == 413, r.text
            assert r.json()["error"]["code"] == "request_too_large"
            # under the cap, in many small chunks: read whole and served
            r = await c.post("/v1/chat/completions", content=chunked(payload, 1))
            assert r.status_code == 200, r.text
        assert len(h.backends["mid"].log) == 1


@pytest.mark.parametrize("value", ["10", "4294967296", "lots"])
def test_max_body_bytes_is_validated(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYDRA_CONFIG", raising=False)
    monkeypatch.setenv("HYDRA_API__MAX_BODY_BYTES", value)
    with pytest.raises(ConfigError, match=r"api\.max_body_bytes"):
        load_settings(None)
