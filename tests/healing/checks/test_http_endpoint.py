from __future__ import annotations

from pathlib import Path

from hydra_os.healing.checks.http_endpoint import HttpEndpointCheck
from hydra_os.healing.const import IssueType
from hydra_os.healing.context import HealingContext
from hydra_os.healing.details import HttpDetails
from hydra_os.sections.healing import HealingConfig
from tests.healing.httpstub import StubServer
from tests.helpers import free_port


async def test_up_down_and_bad_status(tmp_path: Path) -> None:
    with StubServer() as srv:
        dead = free_port()
        cfg = HealingConfig(http=[
            {"name": "webui", "url": f"{srv.url}/health"},
            {"name": "gone", "url": f"http://127.0.0.1:{dead}/", "depends_on": ["unit:x.service"]},
        ])
        rep = await HttpEndpointCheck().run(HealingContext(cfg, "n1", tmp_path))
        assert [str(t) for t in rep.healthy] == ["http:webui"]
        [gone] = rep.issues
        assert gone.type is IssueType.HTTP_DOWN
        assert str(gone.target) == "http:gone" and "ConnectError" in gone.summary
        assert gone.depends_on == ["unit:x.service"]
        srv.mode = "500"
        rep = await HttpEndpointCheck().run(HealingContext(cfg, "n1", tmp_path))
        assert {str(i.target): i.detail(HttpDetails).why for i in rep.issues}["http:webui"] == "HTTP 500"
