"""``hydra/auto`` on /v1/embeddings stays on one model: vectors of two models must never mix."""

from __future__ import annotations

from hydra_os.bus.client import Bus
from hydra_os.inference.endpoint import EndpointInfo
from tests.inference.gateway_harness import gateway_harness

TWO = [("e8", "emb-small", "fast", {"embeddings": True}), ("e640", "emb-big", "fast", {"embeddings": True})]
AUTO = {"model": "hydra/auto", "input": "a sentence"}


async def _dims(h: object, c: object) -> tuple[int, int]:
    r = await c.post("/v1/embeddings", json=AUTO)  # type: ignore[attr-defined]
    return r.status_code, len(r.json()["data"][0]["embedding"]) if r.status_code == 200 else 0


async def test_auto_embeddings_use_the_configured_model_and_never_another(bus: Bus) -> None:
    async with gateway_harness(bus, TWO, embedding_model="emb-small") as h, h.client() as c:
        h.backends["e8"].defaults["dims"] = 8
        h.backends["e640"].defaults["dims"] = 640
        for _ in range(4):
            assert await _dims(h, c) == (200, 8)
        h.backends["e8"].script.append({"drop": True})  # the 8-dim endpoint fails: cools down
        for _ in range(4):
            r = await c.post("/v1/embeddings", json=AUTO)
            assert r.status_code == 503, r.text  # no 640-dim vector in place of an 8-dim one
            assert "emb-small" in r.json()["error"]["message"] or "embedding model" in r.json()["error"]["message"]
        assert h.backends["e640"].log == []
        # naming the other model still reaches it
        r = await c.post("/v1/embeddings", json={"model": "emb-big", "input": "x"})
        assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 640


async def test_unconfigured_auto_embeddings_refuse_to_guess_between_models(bus: Bus) -> None:
    async with gateway_harness(bus, TWO) as h, h.client() as c:
        r = await c.post("/v1/embeddings", json=AUTO)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["param"] == "model" and "inference.embedding_model" in err["message"]
        assert "emb-big" in err["message"] and "emb-small" in err["message"]
        assert h.backends["e8"].log == [] and h.backends["e640"].log == []


async def test_unconfigured_auto_embeddings_pin_the_only_model(bus: Bus) -> None:
    async with gateway_harness(bus, TWO[:1]) as h, h.client() as c:
        h.backends["e8"].defaults["dims"] = 8
        assert await _dims(h, c) == (200, 8)
        # another embedding model appears: hydra/auto keeps the one it started with
        other = EndpointInfo(id="gw.e640", model="emb-big", engine="openai", node="gw", tier="fast",
                             base_url=h.backends["e8"].base_url, embeddings=True)
        await h.registry.announce(other)
        assert any(ep.model == "emb-big" for ep in h.registry.endpoints())
        for _ in range(4):
            assert await _dims(h, c) == (200, 8)
        assert {e["model"] for e in h.backends["e8"].log} == {"emb-small"}
