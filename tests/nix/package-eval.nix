# Evaluate modules/package.nix (or a copy next to another pyproject.toml) with a stand-in
# python3Packages whose buildPythonApplication returns its arguments, for the dependency-mapping
# tests. Every python3Packages attribute is a fake derivation named after the attribute.
{ packageFile ? ../../modules/package.nix, pythonVersion ? "3.12" }:
let
  lib = import ./standin/lib.nix // {
    fileset = { toSource = { root, fileset }: root; unions = xs: xs; maybeMissing = p: p; };
    licenses = { mit = "mit"; asl20 = "asl20"; };
    inherit (builtins) replaceStrings;
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
  };
  pkgs = import ./standin/pkgs.nix { inherit lib; };
  python3Packages = builtins.listToAttrs (map (n: { name = n; value = pkgs.fakeDrv { name = n; }; }) [
    "setuptools" "wheel" "nats-py" "pydantic" "pydantic-settings" "fastapi" "uvicorn" "typer" "rich"
    "loguru" "httpx" "httpx-sse" "psutil" "nvidia-ml-py" "prometheus-client" "aiohttp" "httptools" "qdrant-client"
    "neo4j" "numpy" "apscheduler" "sqlalchemy" "uvloop" "trafilatura" "feedparser" "lxml-html-clean"
    "onnxruntime" "tokenizers" "python-dotenv" "nkeys" "jinja2" "zstandard" "pillow" "tomli-w"
    "anyio" "jsonschema" "opentelemetry-api" "pyjwt" "cryptography" "python-multipart" "sse-starlette"
    "starlette" "typing-extensions" "typing-inspection" "h11" "idna" "truststore"
  ]) // {
    buildPythonApplication = args: args;
    # a wheel package: its arguments, plus the derivation-like name the dependency list reports
    buildPythonPackage = args: args // { name = args.pname; inherit args; };
    python.pythonVersion = pythonVersion;
  };
  # what nixpkgs' callPackage would pass to modules/wheels.nix (with the override given)
  callPackage = f: overrides: import f ({
    inherit lib;
    fetchurl = args: args // { fetchurl = true; };
    autoPatchelfHook = "autoPatchelfHook";
    openssl = pkgs.fakeDrv { name = "openssl-3.4.1"; pname = "openssl"; };
    stdenv.cc.cc.lib = pkgs.fakeDrv { name = "gcc-14.2.1.20250322-lib"; pname = "gcc"; };
  } // overrides);
  fetchurl = args: args;
  app = import packageFile { inherit lib python3Packages callPackage fetchurl; inherit (pkgs) nats-server; };
  wheelOf = d: { inherit (d.args) pname version format pythonImportsCheck; inherit (d.args.src) url sha256;
                 dependencies = map (x: x.name) d.args.dependencies; };
in
{
  inherit (app) pname version pythonRemoveDeps makeWrapperArgs pythonImportsCheck;
  dependencies = map (d: d.name) app.dependencies;
  embedderWheels = map wheelOf (builtins.attrValues app.passthru.embedderWheels);
  mcpWheels = map wheelOf (builtins.attrValues app.passthru.mcpWheels);
  mainProgram = app.meta.mainProgram;
  unavailable = builtins.attrNames app.passthru.unavailable;
  wheels = builtins.mapAttrs (_: w: {
    inherit (w) pname version format nativeBuildInputs pythonImportsCheck;
    src = { inherit (w.src) url sha256; };
    buildInputs = map (d: d.name) w.buildInputs;
    platforms = w.meta.platforms;
  }) app.passthru.fromWheels;
}
