# The MCP SDK (the `mcp` extra: /mcp on the node API, `hydra mcp`), which nixpkgs packages only as
# 1.x: mcp 2.x and the packages it needs that nixpkgs lacks, built from their PyPI wheels (all pure
# Python, py3-none-any). Their other dependencies come from nixpkgs; buildPythonPackage's runtime
# dependency check fails the build if a nixpkgs version is below what a wheel declares.
#
# Hashes are the sha256 PyPI publishes for exactly these files (checked against `pip download`).
{ python3Packages, fetchurl }:
let
  wheel = import ./pure-wheel.nix { inherit python3Packages fetchurl; };
in
rec {
  httpcore2 = wheel {
    pname = "httpcore2";
    version = "2.17.0";
    url = "https://files.pythonhosted.org/packages/ec/0b/617a09b1d9c80717d1ab0c48184504504fa39ec784ee070b0f4aa2107f0a/httpcore2-2.17.0-py3-none-any.whl";
    sha256 = "72e3674317e5d6bdfc4ca5ea52e4b05302b0b185f95eecfb7dd9399230c51a6f";
    dependencies = with python3Packages; [ h11 truststore ];
    imports = [ "httpcore2" ];
  };
  httpx2 = wheel {
    pname = "httpx2";
    version = "2.17.0";
    url = "https://files.pythonhosted.org/packages/a6/3c/6112b7c372a84a332db85f208ba31fccf9287d6ca67d6107c454e00ba4f3/httpx2-2.17.0-py3-none-any.whl";
    sha256 = "4345a932391496a082b65929f72260dbc9ce5cd2d21bcb28d00f0569935a6eb1";
    dependencies = (with python3Packages; [ anyio idna truststore typing-extensions ]) ++ [ httpcore2 ];
    imports = [ "httpx2" ];
  };
  mcp-types = wheel {
    pname = "mcp-types";
    version = "2.3.0";
    url = "https://files.pythonhosted.org/packages/ce/48/32583066b155bb5d4507e7887dc88ee23118cc4de8e2a12870c49719e2a8/mcp_types-2.3.0-py3-none-any.whl";
    sha256 = "968efdbdaedfab06adae40d378a34395f1090c5921d4be3c9cde283aaf76d91d";
    dependencies = with python3Packages; [ pydantic typing-extensions ];
    imports = [ "mcp_types" ];
  };
  mcp = wheel {
    pname = "mcp";
    version = "2.3.0";
    url = "https://files.pythonhosted.org/packages/20/d7/4a2878f128df729db3ca04e71bfce26405cc2e0c9ebe19c592feeb4c61b9/mcp-2.3.0-py3-none-any.whl";
    sha256 = "dd0c44c089d16453e8ae31a3877a0054d7a2314caaa81f5e0541b9b1734b2377";
    dependencies = (with python3Packages; [
      anyio jsonschema opentelemetry-api pydantic pyjwt cryptography python-multipart sse-starlette
      starlette typing-extensions typing-inspection uvicorn
    ]) ++ [ httpx2 mcp-types ];
    imports = [ "mcp.server.mcpserver" "mcp.server.streamable_http_manager" ];
  };
}
