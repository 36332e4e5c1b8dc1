"""The module-system stand-in merges like nixpkgs' module system, or the module tests prove nothing.

Each case is a small evalModules run whose outcome nixpkgs documents (priorities, mkIf, mkMerge,
type checks and merges, submodules, freeform, undeclared options).
"""

from __future__ import annotations

import pytest

from tests.nix.nixeval import NixError, eval_expr, requires_nix

pytestmark = requires_nix


def run(options: str, *configs: str, attr: str = "config") -> object:
    mods = " ".join(f"({{ lib, config, ... }}: {c})" for c in configs)
    return eval_expr(
        f"(lib.evalModules {{ modules = [ ({{ lib, ... }}: {{ options = {options}; }}) {mods} ]; }}).{attr}"
    )


STR = "{ x = lib.mkOption { type = lib.types.str; default = \"dflt\"; }; }"


def test_option_default_applies_without_definitions() -> None:
    assert run(STR) == {"x": "dflt"}


@pytest.mark.parametrize(
    ("defs", "expected"),
    [
        (["{ x = lib.mkDefault \"d\"; }"], "d"),  # 1000 beats the option default (1500)
        (["{ x = lib.mkDefault \"d\"; }", "{ x = \"plain\"; }"], "plain"),  # 100 beats 1000
        (["{ x = \"plain\"; }", "{ x = lib.mkForce \"forced\"; }"], "forced"),  # 50 beats 100
        (["{ x = \"same\"; }", "{ x = \"same\"; }"], "same"),  # equal definitions merge
        (["{ x = lib.mkIf false \"no\"; }"], "dflt"),
        (["lib.mkIf false { x = \"no\"; }"], "dflt"),  # pushed down through attribute sets
        (["lib.mkMerge [ { x = lib.mkIf true \"yes\"; } ]"], "yes"),
        (["lib.mkDefault { x = \"pushed\"; }", "{ }"], "pushed"),
    ],
)
def test_priorities_and_properties(defs: list[str], expected: str) -> None:
    assert run(STR, *defs) == {"x": expected}


def test_conflicting_definitions_are_an_error() -> None:
    with pytest.raises(NixError, match="The option `x' has conflicting definition values"):
        run(STR, "{ x = \"a\"; }", "{ x = \"b\"; }")


def test_type_errors_name_the_option() -> None:
    with pytest.raises(NixError, match="A definition for option `x' is not of type `string'"):
        run(STR, "{ x = 5; }")
    port = "{ p = lib.mkOption { type = lib.types.port; }; }"
    with pytest.raises(NixError, match="option `p' is not of type `16 bit unsigned integer"):
        run(port, "{ p = 70000; }")


def test_undeclared_options_are_an_error_even_under_a_false_mkIf() -> None:
    with pytest.raises(NixError, match="The option `y' does not exist"):
        run(STR, "lib.mkIf false { y = 1; }")


def test_used_but_not_defined() -> None:
    with pytest.raises(NixError, match="The option `n' is used but not defined"):
        run("{ n = lib.mkOption { type = lib.types.int; }; }")


def test_mkif_needs_a_boolean() -> None:
    with pytest.raises(NixError, match="non-Boolean"):
        run(STR, "{ x = lib.mkIf \"yes\" \"v\"; }")


def test_lists_concatenate_and_attrs_merge_per_attribute() -> None:
    opts = ("{ l = lib.mkOption { type = lib.types.listOf lib.types.int; default = [ ]; };"
            "  a = lib.mkOption { type = lib.types.attrsOf lib.types.str; default = { }; }; }")
    got = run(opts, "{ l = [ 1 ]; a.k = \"v\"; a.gone = lib.mkIf false \"x\"; }",
              "{ l = [ 2 3 ]; a.m = lib.mkDefault \"w\"; }")
    assert got == {"l": [1, 2, 3], "a": {"k": "v", "m": "w"}}


def test_nullor_refuses_null_mixed_with_a_value() -> None:
    opts = "{ n = lib.mkOption { type = lib.types.nullOr lib.types.str; default = null; }; }"
    assert run(opts) == {"n": None}
    with pytest.raises(NixError, match="defined both null and not null"):
        run(opts, "{ n = null; }", "{ n = \"v\"; }")


def test_lines_join() -> None:
    opts = "{ t = lib.mkOption { type = lib.types.lines; default = \"\"; }; }"
    assert run(opts, "{ t = \"a\"; }", "{ t = \"b\"; }") == {"t": "a\nb"}


def test_a_module_may_define_options_under_mkIf_of_its_own_option() -> None:
    opts = ("{ enable = lib.mkOption { type = lib.types.bool; default = false; };"
            "  out = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; }; }")
    assert run(opts, "lib.mkIf config.enable { out = [ \"on\" ]; }", "{ enable = true; }") == {
        "enable": True, "out": ["on"]}


def test_submodules_with_freeform_and_name() -> None:
    opts = """{ s = lib.mkOption { default = { }; type = lib.types.attrsOf (lib.types.submodule ({ name, ... }: {
        freeformType = lib.types.attrsOf lib.types.anything;
        options.known = lib.mkOption { type = lib.types.str; default = name; };
      })); }; }"""
    got = run(opts, "{ s.one.extra = 1; }", "{ s.one.more = lib.mkIf true \"m\"; s.two = { }; }")
    assert got == {"s": {"one": {"known": "one", "extra": 1, "more": "m"}, "two": {"known": "two"}}}


def test_submodules_without_freeform_reject_unknown_keys() -> None:
    opts = ("{ s = lib.mkOption { type = lib.types.submodule {"
            "  options.k = lib.mkOption { type = lib.types.int; }; }; }; }")
    with pytest.raises(NixError, match=r"The option `s\.nope' does not exist"):
        run(opts, "{ s = { k = 1; nope = 2; }; }")


def test_an_option_declared_twice_is_an_error() -> None:
    with pytest.raises(NixError, match="declared more than once"):
        run(STR, "{ options = " + STR + "; }")


def test_package_option_uses_pkgs_or_says_it_is_missing() -> None:
    with pytest.raises(NixError, match=r"pkgs\.hydra-os cannot be found in pkgs"):
        eval_expr("(lib.evalModules { modules = [ { options.p = lib.mkPackageOption { } \"hydra-os\" { }; } ]; })"
                  ".config.p")
