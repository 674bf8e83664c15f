"""Masked-token pre-training of the LM surrogate on one search space's strings, measured alone.

Usage: ``python tools/lm_pretrain.py SPACE [--strings N] [--epochs E] [--seed S]``; prints the
held-out masked-token accuracy, the op-frequency baseline and whether pre-training learns
(the criterion of ``pretrain: auto``: accuracy above the baseline by more than two standard
errors). It calls ``methods.lm.pretrain`` with the predictor's default model size and
pre-training settings, except the number of strings and epochs (the reduced setting of
CHANGELOG.md's 2026-11-30 "LM surrogate" entry is ``--strings 20000 --epochs 1 --seed 0``).
Nothing is cached. The space's data must be imported where its strings come from the table.
"""

from __future__ import annotations

import argparse
import json
import sys

from nasbench_harness.errors import HarnessError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("space", help="a registered search space, e.g. nb101, nbgraph, tnb101-macro, darts")
    parser.add_argument("--strings", type=int, default=20_000, help="strings drawn to pre-train on (pretrain_pool; the held-out strings are drawn on top; default 20000)")
    parser.add_argument("--epochs", type=int, default=1, help="pre-training epochs (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    # Imported after parsing so that --help needs no torch.
    from nasbench_harness.methods.lm import LMPredictor, PretrainConfig, pretrain
    from nasbench_harness.registry import get_search_space

    p = LMPredictor.default_params
    cfg = PretrainConfig(
        hidden=p["hidden"], layers=p["layers"], heads=p["heads"], dropout=p["dropout"], pool=args.strings,
        held_out=p["pretrain_held_out"], epochs=args.epochs, batch_size=p["pretrain_batch"], lr=p["pretrain_lr"],
    )
    try:
        _, info = pretrain(get_search_space(args.space), args.seed, cfg, args.threads)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keep = ("mlm_accuracy", "baseline_accuracy", "standard_error", "learns", "train_strings", "masked_tokens", "seconds")
    print(json.dumps({k: info[k] for k in keep}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
