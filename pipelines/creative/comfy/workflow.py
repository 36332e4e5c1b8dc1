"""Workflow templates: the owner's ComfyUI API-format JSON plus a TOML next to it declaring the slots.

A slot says which node input a value goes into (``prompt = { node = "6", input = "text" }``; one
value may feed several inputs: ``input = ["weight", "weight_faceidv2"]``). A slot left without a value
keeps the template's own value, except one with ``bypass``: then its node is left out and every link
to the node's outputs is rewired (``bypass = { "0" = ["4", 0] }``: output 0 now comes from node 4's
output 0) — how an optional LoRA loader disappears when a character has no LoRA.

:func:`check` compares a filled workflow with a server's ``/object_info`` before anything is
submitted: every class installed, every required input given, every slot input known.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.creative.errors import WorkflowError

SHIPPED = Path(__file__).parent / "templates"


class Slot(StrEnum):
    PROMPT = "prompt"
    NEGATIVE = "negative"
    SEED = "seed"
    WIDTH = "width"
    HEIGHT = "height"
    BATCH = "batch"
    LORA = "lora"
    LORA_WEIGHT = "lora_weight"
    REFERENCE = "reference"
    REFERENCE_WEIGHT = "reference_weight"


class SlotTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    node: str = Field(min_length=1)
    input: list[str]
    bypass: dict[str, tuple[str, int]] | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class SlotFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    output: str = Field(min_length=1, description="node id whose images are the result")
    slots: dict[Slot, SlotTarget]


class Template(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    workflow: dict[str, Any]
    spec: SlotFile
    sha256: str

    def has(self, slot: Slot) -> bool:
        return slot in self.spec.slots

    def fill(self, values: dict[Slot, Any]) -> dict[str, Any]:
        """A copy of the workflow with the values put in; a None value of a bypass slot drops its node."""
        wf = copy.deepcopy(self.workflow)
        for slot, target in self.spec.slots.items():
            value = values.get(slot)
            if value is None:
                if target.bypass is not None:
                    _bypass(wf, target.node, target.bypass)
                continue
            if target.node not in wf:
                continue  # its node was bypassed by an earlier slot (a LoRA weight without a LoRA)
            for name in target.input:
                wf[target.node]["inputs"][name] = value
        return wf


def _bypass(wf: dict[str, Any], node: str, to: dict[str, tuple[str, int]]) -> None:
    wf.pop(node, None)
    for other in wf.values():
        for name, v in other["inputs"].items():
            if isinstance(v, list) and len(v) == 2 and str(v[0]) == node:
                src, idx = to[str(v[1])]
                other["inputs"][name] = [src, idx]


def load(name: str, directory: Path | None = None) -> Template:
    """Template ``name`` from the owner's folder, else the shipped ones. Bad files raise WorkflowError."""
    folders = [d for d in (directory, SHIPPED) if d is not None]
    for d in folders:
        jpath, tpath = d / f"{name}.json", d / f"{name}.toml"
        if jpath.is_file() and tpath.is_file():
            return _parse(name, jpath.read_bytes(), tpath.read_bytes())
    raise WorkflowError(f"workflow template {name!r}: no {name}.json + {name}.toml in "
                        + ", ".join(str(d) for d in folders))


def _parse(name: str, raw_json: bytes, raw_toml: bytes) -> Template:
    try:
        wf = json.loads(raw_json)
    except ValueError as e:
        raise WorkflowError(f"workflow template {name!r}: {name}.json is not JSON ({e})") from None
    if not isinstance(wf, dict) or not all(isinstance(n, dict) and "class_type" in n and
                                           isinstance(n.get("inputs"), dict) for n in wf.values()):
        raise WorkflowError(f"workflow template {name!r}: expected ComfyUI's API format "
                            "(node id -> {class_type, inputs}); export it with 'Save (API)'")
    try:
        spec = SlotFile.model_validate(tomllib.loads(raw_toml.decode()))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise WorkflowError(f"workflow template {name!r}: {name}.toml is not TOML ({e})") from None
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise WorkflowError(f"workflow template {name!r}: {name}.toml {where}: {err['msg']}") from None
    missing = [f"{s.value} -> node {t.node}" for s, t in spec.slots.items() if t.node not in wf]
    if spec.output not in wf:
        missing.append(f"output -> node {spec.output}")
    if missing:
        raise WorkflowError(f"workflow template {name!r}: slots name nodes the workflow lacks: {', '.join(missing)}")
    digest = hashlib.sha256(raw_json + b"\0" + raw_toml).hexdigest()
    return Template(name=name, workflow=wf, spec=spec, sha256=digest)


def check(workflow: dict[str, Any], object_info: dict[str, Any], server: str) -> None:
    """Raise WorkflowError naming every node whose class is not installed or lacks a required input."""
    problems: list[str] = []
    for node_id, node in sorted(workflow.items()):
        cls = node["class_type"]
        info = object_info.get(cls)
        if info is None:
            problems.append(f"node {node_id} ({cls}): class not installed")
            continue
        inputs = info.get("input", {})
        required = inputs.get("required", {})
        known = {**required, **inputs.get("optional", {})}
        for name in required:
            if name not in node["inputs"]:
                problems.append(f"node {node_id} ({cls}): required input {name!r} missing")
        for name in node["inputs"]:
            if name not in known and name not in inputs.get("hidden", {}):
                problems.append(f"node {node_id} ({cls}): no input {name!r}")
    if problems:
        raise WorkflowError(f"workflow does not fit ComfyUI at {server}: " + "; ".join(problems))
