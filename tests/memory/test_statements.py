"""The statement rules on their own: a change of tool said without naming what changed is read against the
kept preferences, and only when its key is safe to tell (hand-written cases, positive and negative)."""

from __future__ import annotations

import pytest

from memory.statements import Change, Preference, asks, changes, kept_preferences, preferences

KEPT = {"editor": "Helix", "shell": "bash", "units": "metric", "name": "Sam"}


@pytest.mark.parametrize(("said", "key", "value"), [
    ("I switched to Neovim", "editor", "Neovim"),
    ("I've switched to neovim.", "editor", "neovim"),
    ("I use Neovim now", "editor", "Neovim"),
    ("I've moved to Neovim!", "editor", "Neovim"),
    ("these days I use Neovim", "editor", "Neovim"),
    ("Nowadays I'm using VS Code, it is fine", "editor", "VS Code"),
    ("I now use Emacs", "editor", "Emacs"),
    ("I use Zed instead of Helix", "editor", "Zed"),
    ("I moved from Helix to Kakoune last week", "editor", "Kakoune"),
    ("Actually, I changed over to fish yesterday", "shell", "fish"),
    ("So I went back to zsh", "shell", "zsh"),
])
def test_a_change_of_tool_replaces_the_kept_one_of_its_kind(said: str, key: str, value: str) -> None:
    assert preferences(said, KEPT) == [Preference(key, value)]


@pytest.mark.parametrize("said", [
    "did I switch to Neovim?",
    "Did I move to Neovim",              # a question without its mark
    "should I switch to Neovim",
    "I use Neovim",                       # no word of change: one tool of several, maybe
    "I use Neovim and Helix at work",
    "I moved to Berlin",                  # not a kind of tool the owner has a preference of
    "I switched to the night shift",
    "I switched to Firefox",              # a browser, but no browser is kept: no guessed key
    "these days I use Neovim for everything",  # not only the tool's name: kept as a passage, not a line
])
def test_no_key_is_guessed(said: str) -> None:
    assert preferences(said, KEPT) == []


def test_a_change_needs_what_is_kept_to_be_read() -> None:
    assert changes("I switched to Neovim") == [Change("Neovim")]
    assert changes("I switched from Helix to Neovim") == [Change("Neovim", "Helix")]
    assert preferences("I switched to Neovim") == []  # nothing kept: nothing to replace
    assert preferences("I switched to Neovim", {}) == []
    assert preferences("I switched to Neovim", {"editor": "helix"}) == [Preference("editor", "Neovim")]
    # the change of "from X" names the key even for a tool the rules do not know
    assert preferences("I switched from Obsidian to Logseq", {"notes_app": "Obsidian"}) == [
        Preference("notes_app", "Logseq")]
    # "I switched my X to Y" names its key itself; the keyless rule leaves it alone
    assert preferences("I switched my terminal to kitty", KEPT) == [Preference("terminal", "kitty")]


def test_the_favourite_rule_reads_now_and_the_kept_lines_parse() -> None:
    assert preferences("my favourite editor is now Neovim") == [Preference("editor", "Neovim")]
    assert preferences("My preferred shell is fish") == [Preference("shell", "fish")]
    assert kept_preferences("units: metric\nname: Sam\n\nnot a line\neditor:  Helix ") == {
        "units": "metric", "name": "Sam", "editor": "Helix"}


def test_asks() -> None:
    assert asks("what's my name?") and asks("I use Neovim now. How do I set up LSP")
    assert not asks("call me Sam") and not asks("I switched to Neovim. It starts faster.")
