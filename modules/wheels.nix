# Python packages the embedded memory stores need that nixpkgs does not have, built from their
# PyPI wheels (x86_64-linux only; the wheels are binary). callPackage-style; package.nix adds them
# to hydra-os's dependencies.
#
# - qdrant-edge-py 0.9.0: the embedded archival store (Qdrant's engine as a library). One abi3 wheel
#   serves every CPython >= 3.10; its extension needs only glibc and libgcc_s.
# - ladybug 0.22.0: the embedded graph database. One wheel per CPython version; its extension needs
#   OpenSSL 3 (libssl.so.3, libcrypto.so.3) and libstdc++ (readelf -d ladybug/_lbug.*.so).
#
# Hashes are the sha256 PyPI publishes for exactly these files (checked against `pip download`).
{ lib, python3Packages, fetchurl, autoPatchelfHook, openssl, stdenv }:
let
  pythonTag = "cp" + lib.replaceStrings [ "." ] [ "" ] python3Packages.python.pythonVersion;

  fromWheel = { pname, version, wheel, importName, license, buildInputs ? [ ], description }:
    python3Packages.buildPythonPackage {
      inherit pname version buildInputs;
      format = "wheel";
      src = fetchurl wheel;
      nativeBuildInputs = [ autoPatchelfHook ];
      pythonImportsCheck = [ importName ];
      meta = {
        inherit description license;
        platforms = [ "x86_64-linux" ];
      };
    };

  ladybugWheels = {
    cp311 = {
      url = "https://files.pythonhosted.org/packages/ac/06/5c340bfee8fb943f9f403229e0c73e8c60fa7c61a126de03873091b926c8/ladybug-0.22.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
      sha256 = "22ff14f3b18d0f3f3d244caa0361a4bdaaeefe61c6aa9cb836137910157b2a39";
    };
    cp312 = {
      url = "https://files.pythonhosted.org/packages/ba/78/52852232a947125cd7ac3f281aff34a9e0260e95c36f09ce904f2c2214ab/ladybug-0.22.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
      sha256 = "8b38a3d5e0a538cf32d47f90149e21fa143543a828e39e77d29efa6db988d395";
    };
    cp313 = {
      url = "https://files.pythonhosted.org/packages/b6/8a/c3d298ce43d86e47279e16cc01428632233a505f69e64b9ea5dd7effd05a/ladybug-0.22.0-cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl";
      sha256 = "66c2e6316404bdde678ec13d2043e642df793f1034b35bafa36065534262b5a6";
    };
  };
in
{
  qdrant-edge-py = fromWheel {
    pname = "qdrant-edge-py";
    version = "0.9.0";
    importName = "qdrant_edge";
    license = lib.licenses.asl20;
    description = "Qdrant's vector search engine embedded as a Python library";
    wheel = {
      url = "https://files.pythonhosted.org/packages/30/75/0aa96e41a9e8c0e7c054e940d815ef53d7c9d0c71ce4d350ac65102eac3b/qdrant_edge_py-0.9.0-cp310-abi3-manylinux_2_28_x86_64.whl";
      sha256 = "7bc734ea493d1f92e6b8af74bc68c4f903b2ca90593f899cd1b998cd12744da4";
    };
  };

  ladybug = fromWheel {
    pname = "ladybug";
    version = "0.22.0";
    importName = "ladybug";
    license = lib.licenses.mit;
    description = "Embedded property-graph database with Cypher";
    buildInputs = [ openssl stdenv.cc.cc.lib ];
    wheel = ladybugWheels.${pythonTag} or (throw
      "modules/wheels.nix: no ladybug 0.22.0 wheel for ${pythonTag} here (have: ${lib.concatStringsSep ", " (builtins.attrNames ladybugWheels)})");
  };
}
