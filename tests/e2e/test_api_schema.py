"""Schemathesis over a real node's ``/openapi.json``: no request it generates (valid or not) gets a 5xx,
and every answer matches what the schema documents (status codes, content types, bodies, headers).

Bounded for CI: a fixed number of cases per operation, derandomized (same cases every run), no
deadline (the box may be loaded)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from schemathesis import GenerationMode, checks

from tests.helpers import DaemonProc, daemon_env
from tests.inference.test_gateway_e2e import Standin
from tests.inference.test_gateway_limits import post_head, raw_request

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
EXAMPLES = 6  # per operation and mode: a few hundred requests in all

# schemathesis.checks resolves the built-in checks by name
CHECKS = [getattr(checks, name) for name in ("not_a_server_error", "status_code_conformance",
                                             "content_type_conformance", "response_schema_conformance",
                                             "response_headers_conformance")]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    tmp = tmp_path_factory.mktemp("fuzz")
    standin = Standin("qwen3-8b", "fz")
    cfg = tmp / "config.toml"
    cfg.write_text(
        '[node]\nroles = ["gateway", "memory", "scheduler", "worker"]\n'
        '[api]\nmax_body_bytes = 65536\n'
        '[memory.embed]\nbackend = "hashing"\n'  # the documented light embedder (no torch here)
        f'[[inference.endpoints]]\nurl = "{standin.url}"\nmodel = "qwen3-8b"\ntier = "standard"\n'
        'context_length = 8192\n'
    )
    d = DaemonProc("fuzz", tmp / "fuzz", daemon_env(HYDRA_CONFIG=str(cfg), HYDRA_LOG__LEVEL="INFO")).start()
    try:
        yield d
    finally:
        d.stop()
        standin.stop()


def _fuzz(operation: Any, mode: GenerationMode, token: str, examples: int) -> str | None:
    """Run ``examples`` generated cases of one operation; the first failure's report, or None."""

    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck), phases=[hypothesis.Phase.generate])
    def run(case: Any) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing to generate in this mode (e.g. no parameters to break)
    except BaseException as e:  # schemathesis raises a FailureGroup (a BaseExceptionGroup) with the report
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        return f"{operation.label} ({mode.value}): {str(e)[:1500]}"
    return None


def test_no_5xx_and_answers_match_the_schema(node: DaemonProc) -> None:
    schema = schemathesis.openapi.from_url(node.api_url + "/openapi.json")
    failures = []
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) > 20  # the node's routes and the gateway's
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if (report := _fuzz(op, mode, node.token, EXAMPLES)) is not None:
                failures.append(report)
    assert not failures, "\n\n".join(failures)


def test_bad_ids_and_times_are_4xx_naming_the_field(node: DaemonProc) -> None:
    with node.client() as c:
        for path, method in [("/v1/tasks/é", "GET"), ("/v1/tasks/é/cancel", "POST"), ("/v1/schedule/é", "DELETE"),
                             ("/v1/maintenance/é", "DELETE"), ("/v1/approvals/a.b", "GET")]:
            r = c.request(method, path)
            assert r.status_code == 422, (path, r.text)
            loc = r.json()["detail"][0]["loc"]
            assert loc[0] == "path" and loc[1].endswith("_id"), (path, loc)
        r = c.post("/v1/tasks", json={"kind": "research.topic", "not_before": 1e300})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "not_before"]
        # a 422 raised by a route itself has the same documented shape, the field in loc
        r = c.post("/v1/schedule", json={"kind": "x.y", "every_s": 60})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][:2] == ["body", "id"]


def test_node_routes_cap_bodies_and_name_the_auth_scheme(node: DaemonProc) -> None:
    with node.client() as c:
        r = c.post("/v1/tasks", content=b'{"kind": "' + b"x" * 70000 + b'"}',
                   headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: the bytes read are counted
            yield b'{"kind": "'
            for _ in range(20):
                yield b"x" * 4096
            yield b'"}'

        r = c.post("/v1/tasks", content=chunked(), headers={"content-type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
        assert c.get("/v1/schedule/stored").status_code == 200  # not taken for a job id
    r = httpx.get(node.api_url + "/v1/status")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = httpx.post(node.api_url + "/v1/chat/completions", json={})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_no_body_is_read_from_a_client_without_the_token(node: DaemonProc) -> None:
    # announces 60 KB (under the cap), sends 10 bytes: the 401 must not wait for the rest
    status, headers, body = asyncio.run(raw_request(node.api_url, post_head(60_000, None, "/v1/tasks"), b'{"kind": '))
    assert status == 401 and headers["www-authenticate"] == "Bearer"
    assert json.loads(body) == {"detail": "missing or wrong bearer token"}


def test_the_schema_declares_security_and_errors(node: DaemonProc) -> None:
    doc = httpx.get(node.api_url + "/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in ("/healthz", "/readyz"):
                assert "security" not in op
                continue
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
            assert "401" in op["responses"], (method, path)
            if "requestBody" in op:
                assert "413" in op["responses"], (method, path)
            if "{" in path:
                assert "404" in op["responses"], (method, path)
    assert "409" in doc["paths"]["/v1/tasks/{task_id}/cancel"]["post"]["responses"]
