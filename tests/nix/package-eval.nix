# Evaluate modules/package.nix (or a copy next to another pyproject.toml) with a stand-in
# python3Packages whose buildPythonApplication returns its arguments, for the dependency-mapping
# tests. Every python3Packages attribute is a fake derivation named after the attribute.
{ packageFile ? ../../modules/package.nix }:
let
  lib = import ./standin/lib.nix // {
    fileset = { toSource = { root, fileset }: root; unions = xs: xs; maybeMissing = p: p; };
    licenses.mit = "mit";
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
  };
  pkgs = import ./standin/pkgs.nix { inherit lib; };
  python3Packages = builtins.listToAttrs (map (n: { name = n; value = pkgs.fakeDrv { name = n; }; }) [
    "setuptools" "wheel" "nats-py" "pydantic" "pydantic-settings" "fastapi" "uvicorn" "typer" "rich"
    "loguru" "httpx" "psutil" "nvidia-ml-py" "prometheus-client" "aiohttp" "httptools" "qdrant-client"
    "neo4j" "numpy" "apscheduler" "sqlalchemy" "uvloop" "trafilatura" "feedparser" "lxml-html-clean"
    "onnxruntime" "tokenizers" "python-dotenv"
  ]) // {
    buildPythonApplication = args: args;
    # a wheel package: a fake derivation named after it that keeps its arguments
    buildPythonPackage = args: pkgs.fakeDrv { name = args.pname; passthru = { inherit args; }; };
  };
  fetchurl = args: args;
  app = import packageFile { inherit lib python3Packages fetchurl; inherit (pkgs) nats-server; };
  wheelOf = d: { inherit (d.args) pname version format pythonImportsCheck; inherit (d.args.src) url sha256;
                 dependencies = map (x: x.name) d.args.dependencies; };
in
{
  inherit (app) pname version pythonRemoveDeps makeWrapperArgs pythonImportsCheck;
  dependencies = map (d: d.name) app.dependencies;
  wheels = map wheelOf (builtins.filter (d: d ? args) app.dependencies);
  mainProgram = app.meta.mainProgram;
  unavailable = builtins.attrNames app.passthru.unavailable;
}
