"""Schemathesis over a real node's ``/openapi.json``: no request it generates (valid or not) gets a 5xx,
and every answer matches what the schema documents (status codes, content types, bodies, headers).

Bounded for CI: a fixed number of cases per operation, derandomized (same cases every run), no
deadline (the box may be loaded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode, checks

from tests.helpers import DaemonProc, daemon_env
from tests.inference.test_gateway_e2e import Standin

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
        '[node]\nroles = ["gateway", "scheduler", "worker"]\n'
        '[api]\nmax_body_bytes = 65536\n'
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
