"""llama.cpp's ``llama-server -m FILE --host H --port P -c CTX -ngl N --alias ID --metrics``.

``/health`` answers 503 while the model loads and 200 once it serves. ``--metrics`` turns on its
Prometheus ``/metrics`` (``llamacpp:requests_processing`` + ``llamacpp:requests_deferred``).
"""

from __future__ import annotations

import httpx

from hydra_os.inference.engines.base import Launch, Probe, ProcessEngine, get_ok, prometheus_sum

ALL_LAYERS = 999


class LlamaServerEngine(ProcessEngine):
    kind = "llama-server"

    def argv(self, launch: Launch) -> list[str]:
        s = launch.spec
        argv = [
            *launch.command,
            "-m",
            str(s.path),
            "--host",
            launch.host,
            "--port",
            str(launch.port),
            "-c",
            str(s.context_length),
            "-ngl",
            str(ALL_LAYERS if s.gpus > 0 else 0),
            "--alias",
            s.id,
            "--metrics",
        ]
        return argv + list(s.extra_args)

    async def probe(self, http: httpx.AsyncClient, base: str, launch: Launch) -> Probe:
        ok, detail, _ = await get_ok(http, base + "/health")
        return Probe(ok, "health 200" if ok else detail)

    async def in_flight(self, http: httpx.AsyncClient, base: str) -> int | None:
        return await prometheus_sum(
            http, base + "/metrics", ("llamacpp:requests_processing", "llamacpp:requests_deferred")
        )
