"""Dialogue: a scene outline becomes lines through the chat model, as JSON checked against a schema.

The model gets the project, the characters in the scene (personality, speech style), the place, the
outline, the end of the scene before, memory passages about the project, and which lines the owner
rejected or approved. Its reply must be ``{"lines": [{"speaker", "text", "expression", "direction"}],
"choices": [{"text", "jump"}]}`` where ``speaker`` is a character of the scene or ``narrator`` and
``jump`` an existing scene. A reply that breaks the schema is sent back with what was wrong, a
bounded number of times; then the step fails and the last reply is kept on the scene
(``dialogue_raw``). Without a reachable model the step is pending a model: no line is invented.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hydra_os.chat.client import ChatModel, parse_json_object
from hydra_os.chat.errors import ModelReplyError
from pipelines.creative.errors import CreativeError
from pipelines.creative.model import ChoiceOption, Line, Project, Review, Scene

SCHEMA_NAME = "creative_dialogue"
NARRATOR = "narrator"
MAX_LINES = 80


class DialogueRejectedError(CreativeError):
    """The model's replies kept breaking the dialogue schema; the last one is kept on the scene."""

    http_status = 502
    code = "dialogue_rejected"

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


class _LineOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    speaker: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=2000)
    expression: str = Field(default="", max_length=40, pattern=r"^[a-z0-9_]*$")
    direction: str = Field(default="", max_length=300)


class _ChoiceOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200)
    jump: str


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[_LineOut] = Field(min_length=1, max_length=MAX_LINES)
    choices: list[_ChoiceOut] = Field(default_factory=list, max_length=6)


def schema(speakers: list[str], scenes: list[str]) -> dict[str, Any]:
    """The JSON schema sent as ``response_format`` (strict: every property required)."""
    line = {"type": "object", "additionalProperties": False,
            "required": ["speaker", "text", "expression", "direction"],
            "properties": {"speaker": {"type": "string", "enum": speakers},
                           "text": {"type": "string"},
                           "expression": {"type": "string", "description": "lower_case, e.g. neutral, angry"},
                           "direction": {"type": "string", "description": "stage direction, may be empty"}}}
    choice = {"type": "object", "additionalProperties": False, "required": ["text", "jump"],
              "properties": {"text": {"type": "string"}, "jump": {"type": "string", "enum": scenes}}}
    return {"name": SCHEMA_NAME, "schema": {
        "type": "object", "additionalProperties": False, "required": ["lines", "choices"],
        "properties": {"lines": {"type": "array", "items": line}, "choices": {"type": "array", "items": choice}}}}


@dataclass
class Written:
    status: Literal["done", "pending-model"]
    lines: list[Line]
    choices: list[ChoiceOption]
    attempts: int
    reason: str | None = None


def _parse(reply: str) -> _Reply:
    try:
        return _Reply.model_validate(parse_json_object(reply))
    except ModelReplyError as e:
        raise ValueError(str(e)) from None
    except ValidationError as e:
        raise ValueError("; ".join(f"{'.'.join(str(p) for p in er['loc'])}: {er['msg']}"
                                   for er in e.errors()[:8])) from None


def _problems(parsed: _Reply, scene: Scene, project: Project) -> list[str]:
    cast = ", ".join([*scene.characters, NARRATOR])
    bad_speakers = [(i, ln.speaker) for i, ln in enumerate(parsed.lines)
                    if ln.speaker != NARRATOR and ln.speaker not in scene.characters]
    out = [f"lines.{i}.speaker: {who!r} is not a character of this scene (one of {cast})" for i, who in bad_speakers]
    return out + [f"choices.{i}.jump: no scene {c.jump!r}" for i, c in enumerate(parsed.choices)
                  if c.jump not in project.scenes]


def check(reply: str, scene: Scene, project: Project) -> tuple[list[Line], list[ChoiceOption]]:
    """The reply as lines and choices; ValueError says every problem (for the model to fix)."""
    parsed = _parse(reply)
    problems = _problems(parsed, scene, project)
    if problems:
        raise ValueError("; ".join(problems))
    approved = {ln.text for ln in scene.lines if ln.review is Review.APPROVED}
    lines = [Line(id=f"l{i}", speaker=None if ln.speaker == NARRATOR else ln.speaker, text=ln.text,
                  expression=ln.expression, direction=ln.direction,
                  review=Review.APPROVED if ln.text in approved else Review.PENDING)
             for i, ln in enumerate(parsed.lines, 1)]
    return lines, [ChoiceOption(text=c.text, jump=c.jump) for c in parsed.choices]


def prompt(project: Project, scene: Scene, memory: list[str]) -> list[dict[str, str]]:
    cast = [{"id": c.id, "name": c.name, "personality": c.personality, "speech_style": c.speech_style,
             "description": c.description} for c in (project.characters[i] for i in scene.characters)]
    order = project.ordered_scenes()
    i = order.index(scene)
    before = [f"{ln.speaker or NARRATOR}: {ln.text}" for ln in (order[i - 1].lines[-6:] if i else [])]
    facts = {
        "project": project.title, "about": project.description, "scene": scene.id, "title": scene.title,
        "place": project.places[scene.place].name if scene.place else None, "outline": scene.outline,
        "characters": cast, "scenes_for_choices": [s.id for s in order],
        "rejected_lines": [ln.text for ln in scene.lines if ln.review is Review.REJECTED],
        "approved_lines_keep_verbatim": [ln.text for ln in scene.lines if ln.review is Review.APPROVED],
        "previous_scene_ends": before, "memory": memory[:12]}
    system = ("You write the dialogue of one visual-novel scene. Reply with JSON only: lines in order, each "
              "with speaker (a character id from the scene, or 'narrator'), text, expression (one lower-case "
              "word) and direction (a short stage direction or ''); choices only when the outline asks the "
              "player to decide, each jumping to a scene id. Keep each character's personality and speech "
              "style. Never reuse a rejected line; keep approved lines verbatim.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": "Scene JSON: " + json.dumps(facts, ensure_ascii=False)}]


async def write(chat: ChatModel | None, project: Project, scene: Scene, retries: int,
                memory: list[str] | None = None) -> Written:
    if chat is None or not await chat.available():
        return Written("pending-model", [], [], 0, "no chat model is reachable; the dialogue waits for one")
    messages = prompt(project, scene, memory or [])
    spec = schema([*scene.characters, NARRATOR], sorted(project.scenes))
    reply = ""
    for attempt in range(1, retries + 2):
        reply = await chat.chat(messages, json_schema=spec, temperature=0.8, max_tokens=4000)
        try:
            lines, choices = check(reply, scene, project)
        except ValueError as e:
            messages = [*messages, {"role": "assistant", "content": reply},
                        {"role": "user", "content": f"That reply was rejected: {e}. Reply again with valid JSON."}]
            continue
        return Written("done", lines, choices, attempt)
    raise DialogueRejectedError(f"scene {scene.id}: the model's dialogue broke the schema {retries + 1} times; "
                                "its last reply is kept on the scene (dialogue_raw)", reply)
