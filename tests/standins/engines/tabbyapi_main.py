#!/usr/bin/env python3
"""Stand-in for TabbyAPI's ``python main.py --config FILE``: reads the YAML config like TabbyAPI
(network.host/port, model.model_dir + model.model_name, which must exist), then serves /health,
/v1/model, /v1/models and completions. Needs PyYAML (TabbyAPI itself parses config.yml with it)."""

import argparse
import os
import sys

import yaml
from _engine_http import serve


def main() -> int:
    p = argparse.ArgumentParser(prog="main.py")
    p.add_argument("--config", default="config.yml")
    p.add_argument("--max-seq-len", type=int)
    a = p.parse_args()
    with open(a.config) as f:
        cfg = yaml.safe_load(f)
    net, model = cfg.get("network", {}), cfg.get("model", {})
    folder = os.path.join(model.get("model_dir", "models"), model.get("model_name") or "")
    if not model.get("model_name") or not os.path.isdir(folder):
        print(f"ERROR: model folder {folder} does not exist", file=sys.stderr)
        return 1
    if net.get("disable_auth") is not True:
        print("WARNING: auth is on; this stand-in only serves with disable_auth", file=sys.stderr)
        return 1
    return serve("tabbyapi", model["model_name"], net.get("host", "127.0.0.1"), int(net.get("port", 5000)),
                 metrics=False)


if __name__ == "__main__":
    sys.exit(main())
