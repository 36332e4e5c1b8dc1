"""Node RPC: a NATS micro service per node; errors come back as readable messages."""

from __future__ import annotations

from typing import Any

import pytest

from hydra_os.bus.client import Bus
from hydra_os.errors import BusError, ConfigError, HydraError, NotFoundError, RpcError
from hydra_os.node import rpc
from hydra_os.node.rpc import NodeRpc


async def test_verbs_answer_and_errors_are_translated(bus: Bus) -> None:
    server = NodeRpc(bus, "n1")

    async def echo(params: dict[str, Any]) -> dict[str, Any]:
        return {"echo": params}

    async def refuse(_: dict[str, Any]) -> dict[str, Any]:
        raise ConfigError("field x: expected y")

    async def crash(_: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError("boom")

    server.handle("echo", echo)
    server.handle("refuse", refuse)
    server.handle("crash", crash)
    await server.start()
    with pytest.raises(RuntimeError):
        server.handle("late", echo)
    try:
        assert await rpc.call(bus, "n1", "echo", {"a": 1}) == {"echo": {"a": 1}}
        with pytest.raises(RpcError, match="refused refuse: field x: expected y"):
            await rpc.call(bus, "n1", "refuse")
        with pytest.raises(RpcError, match="ZeroDivisionError: boom"):
            await rpc.call(bus, "n1", "crash")
        with pytest.raises(RpcError, match="'n2' does not answer"):
            await rpc.call(bus, "n2", "echo")
        raw = await bus.nc.request("hydra.node.n1.rpc.echo", b"[1]", timeout=2)
        assert raw.headers and raw.headers.get("Nats-Service-Error-Code") == "400"
        # discoverable with the standard micro verbs
        info = await bus.nc.request("$SRV.INFO.hydra-node", b"", timeout=2)
        assert b"hydra.node.n1.rpc.echo" in info.data
    finally:
        await server.stop()
        await server.stop()


async def test_dotted_verbs(bus: Bus) -> None:
    server = NodeRpc(bus, "n1")

    async def listing(_: dict[str, Any]) -> dict[str, Any]:
        return {"models": []}

    server.handle("models.list", listing)
    await server.start()
    try:
        assert await rpc.call(bus, "n1", "models.list") == {"models": []}
    finally:
        await server.stop()


async def test_a_verb_error_answers_its_own_service_code(bus: Bus) -> None:
    server = NodeRpc(bus, "n1")
    raised: dict[str, HydraError] = {"missing": NotFoundError("no model 'x'"), "bad": ConfigError("x: expected y"),
                                     "down": BusError("the bus is reconnecting")}

    def verb(err: HydraError) -> rpc.Handler:
        async def fail(_: dict[str, Any]) -> dict[str, Any]:
            raise err
        return fail

    for name, err in raised.items():
        server.handle(name, verb(err))
    await server.start()
    try:
        codes = {}
        for name in raised:
            raw = await bus.nc.request(f"hydra.node.n1.rpc.{name}", b"{}", timeout=5)
            assert raw.headers is not None and raw.headers.get("Nats-Service-Error") == str(raised[name])
            codes[name] = raw.headers.get("Nats-Service-Error-Code")
        assert codes == {"missing": "404", "bad": "400", "down": "500"}
    finally:
        await server.stop()
