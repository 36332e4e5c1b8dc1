# One pure-Python (py3-none-any) PyPI wheel as a Python package, for what nixpkgs lacks or has too
# old: the file is fetched by its published sha256 and the named modules are import-checked.
{ python3Packages, fetchurl }:
{ pname, version, url, sha256, dependencies ? [ ], imports }:
python3Packages.buildPythonPackage {
  inherit pname version dependencies;
  format = "wheel";
  src = fetchurl { inherit url sha256; };
  pythonImportsCheck = imports;
}
