"""vLLM: ``vllm serve MODEL --host H --port P --served-model-name ID ...``.

Ready when ``/health`` answers 200 and ``/v1/models`` lists the served name. Load comes from its
Prometheus ``/metrics`` (``vllm:num_requests_running`` + ``vllm:num_requests_waiting``).
"""

from __future__ import annotations

import httpx

from hydra_os.inference.engines.base import Launch, Probe, ProcessEngine, get_ok, model_listed, prometheus_sum


class VllmEngine(ProcessEngine):
    kind = "vllm"

    def argv(self, launch: Launch) -> list[str]:
        s = launch.spec
        source = str(s.path) if s.path is not None else str(s.repo)
        argv = [
            *launch.command,
            "serve",
            source,
            "--host",
            launch.host,
            "--port",
            str(launch.port),
            "--served-model-name",
            s.id,
            "--max-model-len",
            str(s.context_length),
        ]
        if s.gpus > 1:
            argv += ["--tensor-parallel-size", str(s.gpus)]
        if launch.gpu_fraction is not None:
            argv += ["--gpu-memory-utilization", f"{launch.gpu_fraction:.3f}"]
        return argv + list(s.extra_args)

    async def probe(self, http: httpx.AsyncClient, base: str, launch: Launch) -> Probe:
        ok, detail, _ = await get_ok(http, base + "/health")
        if not ok:
            return Probe(False, detail)
        ok, detail, r = await get_ok(http, base + "/v1/models")
        if not ok or r is None:
            return Probe(False, detail)
        if not model_listed(r, launch.spec.id):
            return Probe(False, f"/v1/models does not list {launch.spec.id!r} yet")
        return Probe(True, "health 200, model listed")

    async def in_flight(self, http: httpx.AsyncClient, base: str) -> int | None:
        return await prometheus_sum(
            http, base + "/metrics", ("vllm:num_requests_running", "vllm:num_requests_waiting")
        )
