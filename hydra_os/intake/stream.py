"""A request answered as it is made (``POST /v1/requests`` with ``"stream": true``).

A question's answer comes in :class:`~hydra_os.intake.model.Delta` pieces as the model writes them
(:meth:`hydra_os.chat.client.ChatModel.chat_stream`), then the whole :class:`~hydra_os.intake.model.Reply`;
memory in and out, and the no-model fallbacks, are the whole answer's own
(:func:`~hydra_os.intake.execute.prepare_answer`, :func:`~hydra_os.intake.execute.answered`): the exchange
is archived only once the answer is complete. A model that fails mid-answer raises its
:class:`~hydra_os.chat.errors.ChatError`; on the wire that is one ``error`` event (:func:`events`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from hydra_os.api.sse import error_event, sse
from hydra_os.errors import HydraError
from hydra_os.intake.deps import IntakeDeps
from hydra_os.intake.execute import answered, prepare_answer
from hydra_os.intake.model import Delta, Reply, RequestIn

StreamItem = Delta | Reply


async def answer_stream(svc: IntakeDeps, base: Reply, req: RequestIn) -> AsyncIterator[StreamItem]:
    prompt = await prepare_answer(svc, base, req)
    if isinstance(prompt, Reply):
        yield prompt
        return
    assert svc.chat is not None
    pieces: list[str] = []
    async for piece in svc.chat.chat_stream(prompt.messages, max_tokens=svc.config.answer_max_tokens):
        pieces.append(piece)
        yield Delta(text=piece)
    yield answered(svc, base, req, prompt, "".join(pieces).strip())


async def one(reply: Reply) -> AsyncIterator[StreamItem]:
    """An outcome that is no model's answer (a task queued, an approval asked for...): one event."""
    yield reply


async def events(items: AsyncIterator[StreamItem]) -> AsyncIterator[bytes]:
    """The items as server-sent events: ``delta`` and ``reply``, or ``error`` where it broke off."""
    try:
        async for item in items:
            if isinstance(item, Delta):
                yield sse("delta", item.model_dump())
            else:
                yield sse("reply", item.model_dump(mode="json"))
    except HydraError as e:
        yield error_event(e)
