"""Train the shipped ``hydra/auto`` weights: ``hydra_os/inference/route_weights.json``.

    .venv/bin/python scripts/train_router.py          # write the weights, print cross-validation
    .venv/bin/python scripts/train_router.py --check  # fail if the committed weights differ from a retrain

Data: ``hydra_os/inference/route_data/`` (see tests/data/README.md). The held-out file
``tests/data/route_heldout.jsonl`` is never read here. Deterministic: same data, same bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hydra_os.inference.route_train import cross_validate, shipped_rows, train, write_weights  # noqa: E402

OUT = REPO / "hydra_os" / "inference" / "route_weights.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed weights instead of writing")
    ap.add_argument("--no-cv", action="store_true", help="skip the 5-fold cross-validation")
    a = ap.parse_args()
    rows = shipped_rows()
    model = train(rows)
    if a.check:
        same = OUT.read_text() == model.dumps()
        print("weights reproduce" if same else "weights differ from a retrain: run scripts/train_router.py")
        sys.exit(0 if same else 1)
    write_weights(model, OUT)
    print(f"wrote {OUT.relative_to(REPO)}: {len(model.names)} terms, {len(rows)} examples")
    if not a.no_cv:
        print(json.dumps(cross_validate(rows), indent=1))


if __name__ == "__main__":
    main()
