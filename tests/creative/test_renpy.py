"""The Ren'Py export and the parser of the subset it writes: tricky text survives the round trip,
broken scripts are refused with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.creative.errors import ExportError
from pipelines.creative.model import ChoiceOption, ImageAsset, Line, Review
from pipelines.creative.renpy.export import export
from pipelines.creative.renpy.parse import parse, validate
from pipelines.creative.renpy.syntax import escape, quote, unescape
from pipelines.creative.service import CreativeService
from tests.creative.conftest import make_project
from tests.standins.comfyui import png_bytes
from tests.standins.speech_server import tone_wav

TRICKY = [
    'She said "run" — now!',
    "{b}not bold{/b} and [player_name] stay literal",
    "100% sure, 50%% too, %(name)s",
    "a back\\slash and a\nnewline",
    "Zoë, 李娜 and Ørjan say „hallo“ ✓",
    "}] closing ones alone ]}",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_text_round_trips(text: str) -> None:
    body = escape(text)
    assert unescape(body) == text
    src = f'define z = Character({quote(text)}, color="#112233")\nlabel start:\n    z {quote(text)}\n'
    script = parse({"t.rpy": src})
    assert script.characters["z"][0] == text and script.labels["start"].says[0].text == text


def test_escaping_turns_off_tags_and_interpolation() -> None:
    assert escape("{i}[x]") == "{{i}[[x]" and escape('"') == '\\"'


@pytest.mark.parametrize(("src", "err"), [
    ('label start:\n    "a {b}bold{/b}"\n', "text tag"),
    ('label start:\n    "[name]"\n', "interpolation"),
    ('label start:\n  "two spaces"\n', "multiple of 4"),
    ('label start:\n\t"tab"\n', "tab"),
    ('label start:\n    "say \\q"\n', "unknown escape"),
    ('label start:\n    voice "a.wav"\n    jump start\n', "followed by the line"),
    ('label start:\n    menu:\n        "go":\n    "after"\n', "no jump"),
    ('label start:\n    play music "x.ogg"\n', "not a statement"),
    ('define scene = Character("S", color="#000000")\n', "reserved"),
    ('label start:\n    "x"\nlabel start:\n    "y"\n', "defined twice"),
    ('python:\n    x = 1\n', "not a define or label"),
])
def test_the_parser_refuses_what_the_subset_does_not_allow(src: str, err: str) -> None:
    with pytest.raises(ExportError, match=err) as e:
        parse({"bad.rpy": src})
    assert str(e.value).startswith("bad.rpy:")


def test_validation_checks_jumps_speakers_images_and_voices(tmp_path: Path) -> None:
    game = tmp_path / "game"
    game.mkdir()
    (game / "script.rpy").write_text('label start:\n    scene bg nowhere\n    voice "audio/x.wav"\n'
                                     '    ghost "boo"\n    jump nowhere\n')
    with pytest.raises(ExportError) as e:
        validate(game)
    for part in ("missing label 'nowhere'", "speaker 'ghost'", "voice file 'audio/x.wav'",
                 "image file for 'bg nowhere'"):
        assert part in str(e.value)


async def test_a_project_exports_to_a_valid_renpy_folder(service: CreativeService, tmp_path: Path) -> None:
    await make_project(service)
    p = await service.get("ebq")
    proj = tmp_path / "proj"
    (proj / "images").mkdir(parents=True)
    (proj / "audio" / "voice").mkdir(parents=True)
    for key in ("bg_hall", "aria_neutral", "aria_angry", "zoe_neutral", "zoe_sly"):
        (proj / "images" / f"{key}.png").write_bytes(png_bytes(len(key)))
    (proj / "audio" / "voice" / "s1_l1.wav").write_bytes(tone_wav(0.3))
    s1 = p.scenes["s1"]
    s1.lines = [Line(id="l1", speaker="aria", text='Who says "queen" {here}?', expression="angry",
                     voice="audio/voice/s1_l1.wav"),
                Line(id="l2", speaker=None, text="The wind [howls]."),
                Line(id="l3", speaker="zoe", text="Zoë does, 100%.", expression="sly", direction="steps out"),
                Line(id="l4", speaker="zoe", text="(rejected)", review=Review.REJECTED)]
    s1.choices = [ChoiceOption(text="Trust her", jump="s2"), ChoiceOption(text="Call the guards", jump="s1")]
    s1.images = [ImageAsset(key=k, path=f"images/{k}.png", sha256="0" * 64, provenance_path="x")
                 for k in ("bg_hall", "aria_angry", "zoe_sly", "zoe_neutral")]
    p.scenes["s2"].lines = [Line(id="l1", speaker="aria", text="Then we have a pact.")]
    report = export(p, proj, tmp_path / "out")
    game = tmp_path / "out" / "game"
    script = validate(game)
    assert set(script.labels) == {"start", "chapter_ch1", "scene_s1", "scene_s2"}
    assert script.characters["zoe"] == ("Zoë", "#80c0ff")
    says = script.labels["scene_s1"].says
    assert [(s.who, s.text, s.voice) for s in says] == [
        ("aria", 'Who says "queen" {here}?', "audio/voice/s1_l1.wav"), (None, "The wind [howls].", None),
        ("zoe", "Zoë does, 100%.", None)]
    assert script.labels["scene_s1"].shown[:3] == [("scene", "bg hall"), ("show", "aria angry"), ("show", "zoe sly")]
    assert script.labels["scene_s1"].menus[0].choices == [("Trust her", "scene_s2"), ("Call the guards", "scene_s1")]
    assert script.labels["scene_s2"].says[0].text == "Then we have a pact."
    assert (game / "images" / "aria angry.png").read_bytes() == png_bytes(len("aria_angry"))
    assert report.lines == 4 and report.voices == 1 and report.images == 4
    assert "label start:\n    jump chapter_ch1\n" == (game / "script.rpy").read_text()
