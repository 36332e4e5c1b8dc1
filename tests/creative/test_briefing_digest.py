"""The morning briefing shows what the creative studio made overnight: an overnight asset batch on a real task
worker against the ComfyUI stand-in (full-size PNGs), then the briefing asks the node's ``creative`` verb over a
real nats-server for its digest and renders downscaled JPEG thumbnails inline (data: URIs), outliers first."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from hydra_os.bus.client import Bus
from hydra_os.component import NodeContext
from hydra_os.config import Settings
from hydra_os.events import EventLog
from hydra_os.node.info import NodeInfo
from hydra_os.node.membership import Membership
from hydra_os.node.rpc import NodeRpc
from hydra_os.tasks.model import TaskSpec
from hydra_os.tasks.registry import TaskRegistry
from hydra_os.tasks.store import TaskStore
from pipelines.briefing import collect
from pipelines.briefing.model import Briefing
from pipelines.briefing.render import html, markdown
from pipelines.creative import digest
from pipelines.creative.api import rpc_handler
from pipelines.creative.images import BG_SIZE
from pipelines.creative.model import Project, Review
from pipelines.creative.pipeline import ASSETS_KIND, make_images, register
from pipelines.creative.service import CreativeService
from pipelines.creative_digest import DigestRequest
from pipelines.creative_kinds import VERB
from tests.creative.conftest import make_project
from tests.creative.creative_worker import deps
from tests.standins.comfyui import ComfyStandin
from tests.tasks.conftest import MakeWorker, done, queue_for, wait_task


@pytest.fixture
async def studio_node(bus: Bus, service: CreativeService, tmp_path: Path) -> AsyncIterator[str]:
    """A node "n1" that is alive in the membership bucket and serves the ``creative`` verb."""
    s = Settings(node={"id": "n1", "state_dir": tmp_path / "state", "roles": ["gateway"]}, owner={"timezone": "UTC"})
    events = EventLog(bus, "n1")
    await events.start()
    rpc = NodeRpc(bus, "n1")

    async def info() -> NodeInfo:
        now = time.time()
        return NodeInfo(id="n1", incarnation="i", roles=["gateway"], version="0", api_url=None, pid=1,
                        started_at=now, heartbeat_at=now, uptime_s=1, cpu_count=1, cpu_percent=1.0,
                        load_avg_1m=0.1, mem_total_mb=1000, mem_available_mb=500)

    membership = Membership(bus, events, "n1", info, heartbeat_interval=0.5, gone_after=30)
    NodeContext(s, bus, events, rpc, membership)
    rpc.handle(VERB, rpc_handler(service))
    await rpc.start()
    await membership.start()
    try:
        yield "n1"
    finally:
        await membership.stop()
        await rpc.stop()


def _jpeg(uri: str) -> Image.Image:
    head, _, data = uri.partition(",")
    assert head == "data:image/jpeg;base64"
    im = Image.open(io.BytesIO(base64.b64decode(data)))
    assert im.format == "JPEG"
    return im


async def test_the_briefing_shows_thumbnails_counts_and_reviews_of_the_overnight_batch(
        bus: Bus, make_worker: MakeWorker, service: CreativeService, tmp_path: Path, studio_node: str) -> None:
    await make_project(service)
    before = time.time()
    async with ComfyStandin(full_size=True) as comfy:
        d = deps([comfy.base], None, tmp_path)  # type: ignore[arg-type]
        d.service = service
        registry = TaskRegistry()
        register(registry, d)
        await make_worker(registry)
        q = queue_for(bus)
        t = await wait_task(q, (await q.enqueue(TaskSpec(kind=ASSETS_KIND, params={"request": "assets"}))).task.id,
                            done, 90)
    assert t.state == "succeeded", t.error
    p = await service.get("ebq")
    bg = next(a for a in p.scenes["s1"].images if a.key == "bg_hall")
    assert Image.open(service.store.dir("ebq") / bg.path).size == BG_SIZE  # a full-size image was made

    b = Briefing(since=before, until=time.time() + 1, timezone="UTC", owner="Sam")
    await collect.collect_creative(b, bus, TaskStore(bus), 30, DigestRequest(since=b.since, until=b.until,
                                                                               max_count=2, max_px=96))
    assert b.problems == [] and b.creative is not None
    c = b.creative
    # 3 images made (background and two sprites; scene 2 reuses them), no scorer: all unscored, none rated
    assert (c.made, c.unscored, c.outliers, c.failed_images, c.failed_tasks) == (3, 3, 0, 0, 0)
    assert c.review_images == 3 and c.review_lines == 0 and c.not_shown == 1
    assert len(c.thumbnails) == 2
    for th in c.thumbnails:
        im = _jpeg(th.data_uri)
        assert max(im.size) == 96 and th.score is None and th.review == "pending"
    page = html(b)
    assert page.count('<img src="data:image/jpeg;base64,') == 2 and "1 more not shown." in page
    assert "src=\"http" not in page  # self-contained: nothing to fetch from the node
    md = markdown(b)
    assert "## Creative studio" in md and "- 3 images made: 3 unscored, 0 outliers." in md
    assert "- Waiting for your review: 3 images, 0 lines ('hydra creative review')." in md
    # a period with nothing made and nothing waiting: no section at all
    empty = Briefing(since=0, until=1, timezone="UTC", owner="Sam")
    await service.store.mutate("ebq", "test", "reviews", _approve_all)
    await collect.collect_creative(empty, bus, TaskStore(bus), 30, DigestRequest(since=0, until=1))
    assert empty.creative is None and "Creative studio" not in html(empty)


def _approve_all(p: Project) -> None:
    for s in p.scenes.values():
        for a in s.images:
            a.review = Review.APPROVED


async def test_outliers_come_first_and_an_unreadable_image_is_named_not_fatal(
        service: CreativeService, tmp_path: Path) -> None:
    await make_project(service)
    async with ComfyStandin(full_size=True) as comfy:
        d = deps([comfy.base], None, tmp_path)  # type: ignore[arg-type]
        d.service = service
        p = await service.get("ebq")
        made = await make_images(d, p, p.scenes["s1"], None)
    assert made["made"] == 3

    def rate(p: Project) -> None:
        for a in p.scenes["s1"].images:  # the background stays unscored (no references to compare with)
            if a.key != "bg_hall":
                a.score, a.outlier = (0.41, True) if a.key == "zoe_neutral" else (0.93, False)

    await service.store.mutate("ebq", "test", "scores", rate)
    p = await service.get("ebq")
    aria = next(a for a in p.scenes["s1"].images if a.key == "aria_neutral")
    (service.store.dir("ebq") / aria.path).write_bytes(b"not an image")
    req = DigestRequest(since=0, until=time.time() + 1, max_count=8, max_px=64)
    c = await digest.collect(service.store, req)
    assert (c.made, c.unscored, c.outliers) == (3, 1, 1)
    assert [t.key for t in c.thumbnails] == ["zoe_neutral", "bg_hall"]  # the outlier first; aria unreadable
    assert c.thumbnails[0].outlier and c.thumbnails[0].score == 0.41
    assert len(c.problems) == 1 and c.problems[0].startswith("ebq/s1 aria_neutral: ")
    b = Briefing(since=0, until=1, timezone="UTC", owner="Sam", creative=c)
    page = html(b)
    assert '<figure class="thumb bad">' in page and "ebq/s1 zoe_neutral: 0.41, OUTLIER, pending" in page
    assert page.index("zoe_neutral") < page.index("bg_hall")
    assert "Could not read ebq/s1 aria_neutral" in markdown(b)



async def test_the_thumbnails_of_one_answer_fit_one_bus_message(
        service: CreativeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await make_project(service)
    async with ComfyStandin(full_size=True) as comfy:
        d = deps([comfy.base], None, tmp_path)  # type: ignore[arg-type]
        d.service = service
        p = await service.get("ebq")
        await make_images(d, p, p.scenes["s1"], None)
    req = DigestRequest(since=0, until=time.time() + 1, max_count=8, max_px=512)
    full = await digest.collect(service.store, req)
    assert len(full.thumbnails) == 3
    two = len(full.thumbnails[0].data_uri) + len(full.thumbnails[1].data_uri)
    monkeypatch.setattr(digest, "MAX_THUMBNAIL_BYTES", two)  # a byte budget for two of the three
    c = await digest.collect(service.store, req)
    assert len(c.thumbnails) == 2 and c.made == 3 and c.not_shown == 1
