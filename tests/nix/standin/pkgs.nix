# A stand-in for the few parts of nixpkgs' `pkgs` the Hydra module and example hosts touch:
# fake derivations (attribute sets with type = "derivation" and an outPath), writeText, and
# pkgs.formats.{toml,json} with nixpkgs' value type and a TOML writer (nixpkgs serialises
# through remarshal; this writes the same data as TOML directly, so tests can parse it).
#
# `packageOutPath` lets a test point the hydra-os package at a real directory (for example one
# whose bin/hydra runs the working tree), so the generated ExecStart can really be executed.
{ lib, packageOutPath ? null }:
let
  inherit (builtins)
    attrNames concatMap concatStringsSep filter hashString isAttrs isBool isFloat isInt isList
    isPath isString map match substring toJSON toString typeOf;

  fakeDrv = { name, pname ? name, version ? "0", mainProgram ? pname, outPath ? null, passthru ? { } }:
    {
      type = "derivation";
      inherit name pname version;
      outPath = if outPath != null then outPath
        else "/nix/store/${substring 0 32 (hashString "sha256" name)}-${name}";
      meta.mainProgram = mainProgram;
      drvPath = "/nix/store/${substring 0 32 (hashString "sha1" name)}-${name}.drv";
    } // passthru;

  writeText = name: text: fakeDrv { inherit name; passthru = { inherit text; }; };

  # ---- TOML writer ----------------------------------------------------------------------------
  bareKey = k: match "[A-Za-z0-9_-]+" k != null;
  key = k: if bareKey k then k else toJSON k;
  isTable = v: isAttrs v && !(v ? outPath);
  scalar = where: v:
    if v == null then throw "TOML cannot represent null (at ${where}); leave the key out instead"
    else if isBool v then (if v then "true" else "false")
    else if isInt v then toString v
    else if isFloat v then (let s = toJSON v; in if match ".*[.eE].*" s != null then s else s + ".0")
    else if isString v then toJSON v
    else if isPath v then toJSON (toString v)
    else if isAttrs v && v ? outPath then toJSON v.outPath
    else if isList v then "[ " + concatStringsSep ", " (map (scalar where) v) + " ]"
    else if isAttrs v then "{ " + concatStringsSep ", " (map (k: "${key k} = ${scalar "${where}.${k}" v.${k}}") (attrNames v)) + " }"
    else throw "TOML cannot represent a ${typeOf v} (at ${where})";
  table = path: set:
    let
      names = attrNames set;
      plain = filter (k: !(isTable set.${k})) names;
      tables = filter (k: isTable set.${k}) names;
      where = concatStringsSep "." path;
      header = if path == [ ] then "" else "\n[${concatStringsSep "." (map key path)}]\n";
      body = concatStringsSep "" (map (k: "${key k} = ${scalar "${where}.${k}" set.${k}}\n") plain);
    in
    header + body + concatStringsSep "" (map (k: table (path ++ [ k ]) set.${k}) tables);
  toTOML = set: table [ ] set;

  # nixpkgs pkgs.formats value type: a recursive JSON-like value, merged attribute-wise,
  # lists concatenated, scalars equal-or-conflict.
  valueType = description: with lib.types;
    let
      t = nullOr (oneOf [ bool int float str path (attrsOf t) (listOf t) ]) // { inherit description; };
    in t;
in
{
  inherit fakeDrv writeText;
  lib = lib;

  formats = {
    toml = { }: {
      type = lib.types.attrsOf (valueType "TOML value");
      generate = name: value: writeText name (toTOML value);
    };
    json = { }: {
      type = lib.types.attrsOf (valueType "JSON value");
      generate = name: value: writeText name (toJSON value);
    };
  };

  hydra-os = fakeDrv {
    name = "hydra-os-0.1.0";
    pname = "hydra-os";
    version = "0.1.0";
    mainProgram = "hydra";
    outPath = packageOutPath;
  };
  nats-server = fakeDrv { name = "nats-server-2.10.22"; pname = "nats-server"; };
  # nixpkgs' llama-cpp; .override { cudaSupport = true; } gives the CUDA build (another store path)
  llama-cpp = fakeDrv {
    name = "llama-cpp-5141"; pname = "llama-cpp"; mainProgram = "llama-server";
    passthru.override = args: fakeDrv {
      name = "llama-cpp-5141" + (if args.cudaSupport or false then "-cuda" else "");
      pname = "llama-cpp"; mainProgram = "llama-server";
    };
  };
  espeak-ng = fakeDrv { name = "espeak-ng-1.51.1"; pname = "espeak-ng"; mainProgram = "espeak-ng"; };
  nix = fakeDrv { name = "nix-2.24.10"; pname = "nix"; mainProgram = "nix"; };
  coreutils = fakeDrv { name = "coreutils-9.5"; pname = "coreutils"; mainProgram = "ls"; };
  systemd = fakeDrv { name = "systemd-256.8"; pname = "systemd"; mainProgram = "systemctl"; };
  linuxPackages = { nvidiaPackages.stable = fakeDrv { name = "nvidia-x11-565.77"; pname = "nvidia-x11"; }; };
}
