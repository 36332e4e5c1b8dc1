"""``hydra feedback CONVERSATION up|down [--response ID] [--comment TEXT]``: thumbs up/down on an answer,
kept as a learning tied to the conversation (the same as ``POST /v1/feedback``), over the bus."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from hydra_os.bus.client import Bus
from hydra_os.cli.common import console, fail, state, with_bus
from hydra_os.node.rpc_params import first_problem
from memory.feedback import Rating, record_feedback
from memory.protocols import Learning
from memory.wiring import FeedbackRequest, client_stack


def feedback(
    ctx: typer.Context,
    conversation: Annotated[str, typer.Argument(help="Conversation id (the x-hydra-conversation response header).")],
    rating: Annotated[Rating, typer.Argument(help="up or down")],
    response: Annotated[str | None, typer.Option("--response", help="The answer's id (chatcmpl-...).")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="What was good or wrong.")] = None,
) -> None:
    """Rate an answer: kept as a learning tied to its conversation (later prompts see it when relevant)."""
    try:  # the request model of POST /v1/feedback: the same checks, before anything is sent
        req = FeedbackRequest(conversation=conversation, rating=rating, response_id=response, comment=comment)
    except ValidationError as e:
        fail("{}: {}".format(*first_problem(e)))
    settings = state(ctx).settings()

    async def go(bus: Bus) -> Learning:
        stack = await client_stack(bus, settings.memory)
        return await record_feedback(stack.learnings, conversation=req.conversation, rating=req.rating,
                                     response_id=req.response_id, comment=req.comment)

    learning = with_bus(settings, go)
    console.print(f"Kept as learning {learning.id}: {escape(learning.learning)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback)
