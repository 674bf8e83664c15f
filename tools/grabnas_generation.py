"""GraB-NAS's generation, measured per setting (issue 20, item 10; studies/grabnas/README.md).

    python tools/grabnas_generation.py measure [--settings today,algorithm1,...] [--seeds 0] [--budget 50]
                                               [--out grabnas-generation.json]
    python tools/grabnas_generation.py train --scale paper [--seed 0]

``measure`` runs, per setting (a D-VAE scale plus the ascent's steps, rate and retries: SETTINGS),
the real ``search`` protocol (``protocols.search.run``) with the ``grabnas`` strategy, setting
metad2a, and writes one JSON (every run) and prints Markdown tables:

- the D-VAE's label-free quality on its 1,000 held-out cells: reconstruction, validity and
  uniqueness of N(0, I) decodes, and latent smoothness (what a step of length r from a cell's
  latent mean decodes to: the same cell, another valid cell, an invalid graph);
- per run: decodes, valid decodes, novel decodes (valid, not a queried cell or an isomorph of one
  at the time of the decode: charged), those outside the candidate set, whether the best found
  (by the train metric) was decoded, and the eval accuracy of the novel decodes against the best
  remaining candidate.

Runs are made on the development task (``dev``: meta-training data only, see ``dev_task``) and,
for reporting only, on the NB201 targets. Settings are chosen on the decoder measures and the
``dev`` runs, never on the targets' rows.

``train`` trains (or resumes from its per-epoch checkpoint) one D-VAE scale into the model cache
(<data cache>/_models/grabnas), the file the strategies read; run it niced in the background.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# name -> the grabnas strategy's params (one factor at a time against today's; explicit, so that a later
# change of the defaults does not change what a name measures)
TODAY = {"ascent_lr": 0.05}  # the defaults before this measurement: 20 steps of 0.05, 3 retries, D-VAE 64/16, 4 epochs
SETTINGS = {
    "today": TODAY,
    "algorithm1": {**TODAY, "ascent_steps": 1, "retries": 0},  # the paper's one step, no retry (eta = ascent_lr)
    "steps1": {**TODAY, "ascent_steps": 1},  # one step per try, retries kept
    "retries0": {**TODAY, "retries": 0},  # 20 steps, no retry
    "lr0.2": {"ascent_lr": 0.2},  # a 4x longer Adam step (the default since this measurement)
    "small-20ep": {**TODAY, "dvae_scale": "small-20ep"},  # 20 D-VAE epochs instead of 4
    "paper-scale": {"ascent_lr": 0.2, "dvae_scale": "paper"},  # hidden 501, latent 56, 8 epochs; the chosen ascent
}
TARGETS = ("nb201/cifar10", "nb201/cifar100", "nb201/ImageNet16-120")
DEV = "dev"
RADII = (0.25, 0.5, 1.0, 2.0, 4.0)


def dev_task(cache=None):
    """The development task: NB201 cells that MetaD2A's ImageNet-32 sub-tasks evaluated, scored (train
    and eval metric alike) by their mean accuracy over those sub-tasks, the meta-training data of
    setting metad2a. It reads no NB201 target value. Its spec is nb201/cifar10's (the setting's models
    are one set for every target: fold "all"); decodes of cells outside it are "unlabelled"."""
    from nasbench_harness.methods.grabnas.meta import metad2a_data
    from nasbench_harness.registry import get_search_space
    from nasbench_harness.tasks.cache import DataCache
    from nasbench_harness.tasks.catalog import load_task

    cache = cache or DataCache()
    space = get_search_space("nb201")
    mean = metad2a_data(cache, space).mean_acc
    rows = np.flatnonzero(np.isfinite(mean))
    base = load_task("nb201/cifar10", cache=cache)
    index = base.rows_of(space.enumerate()[rows].tolist())
    return replace(base, ids=base.ids[index], train=mean[rows], eval=mean[rows], extras=base.extras.iloc[index].reset_index(drop=True),
                   data_checksum="metad2a-mean", _row=None, _digests={})


def decoder_quality(scale: str | None, seed: int) -> dict:
    """Label-free measures of the seed's D-VAE on its held-out cells."""
    from nasbench_harness.methods.grabnas import meta
    from nasbench_harness.methods.grabnas.dvae import NB201Codec, embed, latent_smoothness

    model, info = meta.load_or_train_dvae(seed, scale=scale)
    codec = NB201Codec()
    held, _ = meta.dvae_split(codec.space.enumerate(), meta.scaled(meta.DEFAULT_CONFIG, scale), seed)
    z_all = embed(model, codec, codec.space.enumerate().tolist())
    z_held = embed(model, codec, held.tolist())
    d = np.sqrt(((z_held[:, None, :] - z_all[None, :, :]) ** 2).sum(-1))
    d[d < 1e-6] = np.inf  # the cell itself (and exact duplicates)
    return {
        "hidden": model.cfg.hidden, "latent": model.cfg.latent,
        **{k: info.get(k) for k in ("reconstruction", "validity", "uniqueness", "dvae_seconds", "dvae_cpu_seconds")},
        "nearest_cell_distance": float(np.median(d.min(1))),
        "smoothness": latent_smoothness(model, codec, held.tolist(), RADII, seed=seed),
    }


def one_run(task, target: str, seed: int, budget: int, prune_top: int, params: dict) -> dict:
    """One grabnas search cell through the search protocol, and its generation figures."""
    from nasbench_harness.cell import Cell
    from nasbench_harness.protocols import search

    cell = Cell(protocol="search", task=task.spec.name, predictor="none", encoding="", budget=budget, seed=seed,
                protocol_params={"strategy": "grabnas", "setting": "metad2a", "prune_top": prune_top, **params})
    cpu = time.process_time()
    row = search.run(cell, task)[0]
    cpu = time.process_time() - cpu
    evals = task.eval[task.rows_of(row["decoded_ids"])]
    remaining = row["remaining_best_eval"]
    return {
        "task": target, "seed": seed, "budget": budget, "prune_top": prune_top, "cpu_seconds": cpu,
        **{k: row[k] for k in ("n_ascents", "n_decodes", "n_invalid_decodes", "n_decoded_known", "n_decoded_start", "n_decoded_unlabelled", "n_decoded",
                               "n_outside_candidates", "ascent_distance", "best_eval", "best_eval_queried", "remaining_best_eval",
                               "decoded_ids")},
        "n_valid": row["n_decodes"] - row["n_invalid_decodes"],
        "best_decoded": row["best_arch"] in set(row["decoded_ids"]),
        "novel_evals": evals.tolist(),
        "novel_beyond_remaining": int((evals > remaining).sum()),
        "best_novel_minus_remaining": float(evals.max() - remaining) if len(evals) else None,
    }


def measure(args) -> None:
    import torch
    from nasbench_harness.methods.grabnas.meta import DVAE_SCALES
    from nasbench_harness.tasks.catalog import load_task

    torch.set_num_threads(1)
    names = args.settings.split(",")
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        raise SystemExit(f"Unknown setting(s) {unknown}; use some of {list(SETTINGS)}.")
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = {DEV: dev_task(), **({t: load_task(t) for t in TARGETS} if not args.dev_only else {})}
    out = {"command": " ".join(["python tools/grabnas_generation.py", *sys.argv[1:]]), "settings": {}}
    path = Path(args.out)
    if path.is_file():  # add to an earlier measurement (settings measured again are replaced)
        out["settings"] = json.loads(path.read_text())["settings"]
    for name in names:
        params = SETTINGS[name]
        scale = params.get("dvae_scale")
        quality = {s: decoder_quality(scale, s) for s in seeds}
        runs = [one_run(task, target, s, args.budget, k, params)
                for target, task in tasks.items() for s in seeds for k in (0, args.prune_top)]
        out["settings"][name] = {"params": params, "dvae": DVAE_SCALES.get(scale, "default"), "quality": quality, "runs": runs}
        path.write_text(json.dumps(out, indent=1, default=str))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(markdown(out))


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _signed(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:+.2f}"


def markdown(out: dict) -> str:
    """The decoder-quality table and the generation table (means per run) of a measurement."""
    q = ["| D-VAE scale | hidden/latent | reconstruction | validity | uniqueness | nearest-cell distance | "
         + " | ".join(f"r={r}: same/other/invalid" for r in RADII) + " | D-VAE CPU s |",
         "|---" * (7 + len(RADII)) + "|"]
    g = ["| setting | task | pruned top k | runs | decodes | valid | back to the start | other queried | new, unlabelled | novel (charged) | "
         "outside candidates | best was decoded | novel beyond remaining best | best novel − remaining best | ascent distance | CPU s/run |",
         "|---" * 16 + "|"]
    shown = set()
    for name, s in out["settings"].items():
        scale = s.get("params", {}).get("dvae_scale")
        quality = {} if scale in shown else s["quality"]  # once per D-VAE: settings that share one share its rows
        shown.add(scale)
        for seed, m in quality.items():
            sm = " | ".join("{same:.2f}/{other:.2f}/{invalid:.2f}".format(**m["smoothness"][str(float(r))] if str(float(r)) in m["smoothness"]
                                                                            else m["smoothness"][float(r)]) for r in RADII)
            q.append(f"| {scale or 'default'} (seed {seed}) | {m['hidden']}/{m['latent']} | {m['reconstruction']:.3f} | {m['validity']:.3f} | "
                     f"{m['uniqueness']:.3f} | {m['nearest_cell_distance']:.3f} | {sm} | {m.get('dvae_cpu_seconds') or float('nan'):.0f} |")
        keys = sorted({(r["task"], r["prune_top"]) for r in s["runs"]}, key=lambda t: (t[0] != DEV, t))
        for task, k in keys:
            rs = [r for r in s["runs"] if r["task"] == task and r["prune_top"] == k]
            g.append(f"| {name} | {task} | {k} | {len(rs)} | {_mean(r['n_decodes'] for r in rs):.1f} | {_mean(r['n_valid'] for r in rs):.1f} | "
                     f"{_mean(r['n_decoded_start'] for r in rs):.1f} | {_mean(r['n_decoded_known'] - r['n_decoded_start'] for r in rs):.1f} | "
                     f"{_mean(r['n_decoded_unlabelled'] for r in rs):.1f} | {_mean(r['n_decoded'] for r in rs):.1f} | {_mean(r['n_outside_candidates'] for r in rs):.1f} | "
                     f"{_mean(r['best_decoded'] for r in rs):.2f} | {_mean(r['novel_beyond_remaining'] for r in rs):.1f} | "
                     f"{_signed(_mean(r['best_novel_minus_remaining'] for r in rs))} | {_mean(r['ascent_distance'] for r in rs):.2f} | "
                     f"{_mean(r['cpu_seconds'] for r in rs):.0f} |")
    return "\n".join(["Decoder (label-free, 1,000 held-out cells)", "", *q, "", "Generation (means per run; grabnas, setting metad2a)", "", *g])


def train(args) -> None:
    import torch
    from nasbench_harness.methods.grabnas.meta import load_or_train_dvae

    torch.set_num_threads(1)
    _, info = load_or_train_dvae(args.seed, scale=args.scale)
    print(json.dumps(info, indent=1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="generation figures per setting: JSON + Markdown")
    m.add_argument("--settings", default=",".join(SETTINGS))
    m.add_argument("--seeds", default="0")
    m.add_argument("--budget", type=int, default=50)
    m.add_argument("--prune-top", type=int, default=10)
    m.add_argument("--dev-only", action="store_true", help="the development task only (no NB201 target)")
    m.add_argument("--out", default="grabnas-generation.json")
    t = sub.add_parser("train", help="train or resume one D-VAE scale into the model cache")
    t.add_argument("--scale", required=True)
    t.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    {"train": train, "measure": measure}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
