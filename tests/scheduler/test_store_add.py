"""Adding a job to the schedule store (real bus, real KV): a retried add finds its own earlier try."""

from __future__ import annotations

import pytest

from hydra_os.bus.client import Bus
from hydra_os.scheduler.errors import JobExistsError
from hydra_os.scheduler.store import ScheduleStore, StoredJob
from hydra_os.sections.scheduler import JobDef


async def test_a_retried_add_is_its_own_earlier_try_not_a_second_job(bus: Bus) -> None:
    store = ScheduleStore(bus)
    first = StoredJob(job=JobDef(id="owls", kind="research.topic", params={"topic": "owls"}, cron="0 9 * * 1"),
                      source="intake", title="research on owls")
    assert await store.add(first) == first
    # the same record again (its write landed, the answer came after the bus timeout): the add succeeds
    assert await store.add(first) == first
    # another request for the same id is another record (its own created_at): that one already exists
    again = first.model_copy(update={"created_at": first.created_at + 1})
    with pytest.raises(JobExistsError):
        await store.add(again)
    assert list(await store.all()) == ["owls"]
