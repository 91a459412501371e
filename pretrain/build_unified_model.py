"""Build the unified default model: one vocabulary over every labelled skeleton dataset, pretrained, calibrated.

    python pretrain/build_unified_model.py                       # all steps; resumable (re-run the same command)
    python pretrain/build_unified_model.py --steps card          # one or more steps (names below)
    python pretrain/build_unified_model.py --run runs/unified_smoke --out runs/unified_smoke/weights \\
        --max-steps 2 --pretrain-epochs 1 --finetune-epochs 1   # a smoke run (about 2 minutes; not shipped)

1. prepare    every skeleton dataset of ../shared/data into caches/ (skelrec prepare)
2. pretrain   the default model's self-supervised recipe (pretrain/build_default_model.py: HaLP + ST-GCN, Kinect v1
              layout, the labeler's normalization, Kinect<->MediaPipe bridging augmentations) on all the skeleton
              data with every labelled dataset's test subjects left out (pretrain/configs/unified/pretrain.yaml)
3. finetune   jointly on the labelled datasets, their labels mapped to the unified vocabulary
              (skelrec/datasets/vocabulary.py), twice: from the self-supervised encoder and from a random one (the
              control). Test subjects (held out from training, scored per dataset and per class): UTD-MHAD 2,4,6,8;
              NW-UCLA 2,4,6,8,10 (its xsub split); MSR Action3D 2,4,6,8,10. The NTU-60 samples are one performer (P001,
              a training subject of NTU's own cross-subject protocol) and one clip per class: they only train.
              Calibration subjects (training subjects kept out of fine-tuning): UTD-MHAD 7, NW-UCLA 9, MSR Action3D 9
              (the highest-numbered training subject of each; skelrec.evaluate.calibration.holdout_subjects).
4. calibrate  temperature scaling and the "no action" threshold fitted on the calibration subjects; ECE (15 bins)
              before/after on them and on the test subjects; stored in each classifier's config.json
5. bridge     the paired NTU clip (Kinect skeleton vs MediaPipe poses) through the shipped classifier
6. card       --out (default weights/default) from the --ship run, the card listing both runs per dataset and per
              class and the calibration; when --out is the shipped default and still holds the UTD-MHAD model, that
              model moves to weights/gestures first (the shipped name `gestures`, skelrec/hub/shipped.py)

Every step is resumable: training runs continue from their checkpoints, finished steps are skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pretrain"))

from build_default_model import INIT_WORDS, INITS, TERMS, bridge, bridging_augmentations, pretrain, repository_paths  # noqa: E402

from benchmarks.shared_data import prepare_shared_caches  # noqa: E402
from skelrec.paths import shipped_weights_dir  # noqa: E402

log = logging.getLogger("build_unified_model")

REPO_ID = "skelrec/unified-actions-kinect20"
GESTURES_REPO_ID = "skelrec/utd-mhad-actions-kinect20"
LABELLED = [  # cache (PATH#PROTOCOL): the part each dataset trains and is scored on
    "caches/utd_mhad#xsub",
    "caches/nw_ucla#xsub",
    "caches/msr_action3d#xsub",
    "caches/ntu60_sample#train",  # all 60 clips are P001, on the train side of NTU's xsub: training only
]
# MSRC-12 and MSR DailyActivity3D are in the vocabulary table but the samples here are 4 untrimmed recordings of
# one gesture and 1 recording of one activity: they pretrain only.
TRAINING_DATA = [
    {"id": "utd_mhad", "name": "UTD-MHAD (27 actions; subjects 1, 3, 5 train, 7 calibrates)"},
    {"id": "nw_ucla", "name": "Northwestern-UCLA views 1-2 (10 actions; subjects 1, 3, 5, 7 train, 9 calibrates)"},
    {"id": "msr_action3d", "name": "MSR Action3D (20 actions; subjects 1, 3, 5, 7 train, 9 calibrates)"},
    {"id": "ntu60", "name": "NTU RGB+D 60 samples (60 clips of performer 1, one per class)"},
    {"id": "pku_mmd", "name": "PKU-MMD phase 1 streams (self-supervised only)"},
    {"id": "msrc12", "name": "MSRC-12 recordings (self-supervised only)"},
    {"id": "msr_daily_activity3d", "name": "MSR DailyActivity3D recording (self-supervised only)"},
]


def finetune(encoder: Path, init: str, run: Path, args: argparse.Namespace) -> Path:
    """Joint fine-tuning on :data:`LABELLED` with the unified vocabulary, minus the calibration subjects; the
    classifier (scored per dataset on the test subjects) goes to ``run/finetune_<init>/classifier``."""
    from skelrec.evaluate import EvalContext, FinetuneSettings
    from skelrec.evaluate.calibration import holdout_subjects
    from skelrec.evaluate.finetune import finetune_once

    folder = run / f"finetune_{init}"
    if (folder / "classifier" / "config.json").is_file():
        log.info("%s: done, kept", folder / "classifier")
        return folder / "classifier"
    augment = bridging_augmentations() | input_changes(args)["augment"]
    ctx = EvalContext.open(
        encoder, LABELLED, "xsub", init, augment=augment, vocabulary="unified", **input_changes(args)["open"]
    )
    train_part, _ = holdout_subjects(ctx.parts("train"), ctx.data.layout, ctx.vocabulary)
    settings = FinetuneSettings(
        epochs=args.finetune_epochs,
        lr=args.finetune_lr,
        batch_size=args.finetune_batch,
        layer_decay=1.0,
        max_steps=args.max_steps,
        amp="none",
    )
    command = " ".join(["python pretrain/build_unified_model.py", *sys.argv[1:]])
    finetune_once(ctx, settings, folder, train_part=train_part, device="cpu", progress=False, command=command)
    return folder / "classifier"


def input_changes(args: argparse.Namespace) -> dict[str, dict]:
    """What ``--align``, ``--depth-scale`` and ``--flip`` change: ``{"open": EvalContext.open kwargs, "augment":
    fields}``."""
    opened = {"normalization": {"align": True}} if args.align else {}
    augment: dict[str, Any] = {"depth_scale": list(args.depth_scale)} if args.depth_scale else {}
    if args.flip:
        augment["flip"] = args.flip
    return {"open": opened, "augment": augment}


def calibrate(classifier: Path, target_accuracy: float) -> dict:
    """Fit the temperature and the threshold on the calibration subjects; store them in the classifier's config."""
    from skelrec.checkpoint import load_model, read_config
    from skelrec.evaluate import EvalContext
    from skelrec.evaluate.calibration import holdout_subjects, measure_calibration, write_calibration
    from skelrec.evaluate.features import predict_logits

    stored = read_config(classifier).extra.get("calibration")
    if stored is not None:
        return stored
    model, _ = load_model(classifier, torch.device("cpu"))
    ctx = EvalContext.open(classifier, LABELLED, "xsub", "random", vocabulary="unified")  # its input pipeline
    _, held_out = holdout_subjects(ctx.parts("train"), ctx.data.layout, ctx.vocabulary)
    parts = (held_out, ctx.part("test"))
    pairs = [predict_logits(model, ctx.torch_dataset(p), batch_size=64, device="cpu") for p in parts]
    calibration = measure_calibration(pairs[0], pairs[1], target_accuracy=target_accuracy)
    write_calibration(classifier, calibration)
    log.info("%s: %s", classifier, json.dumps(calibration.to_dict()))
    return calibration.to_dict()


def card(classifier: Path, others: dict[str, Path], out: Path) -> None:
    """``out`` from ``classifier``, with every run's per-dataset scores, per-class table and calibration."""
    from skelrec.checkpoint import load_checkpoint, read_config
    from skelrec.hub.publish import save_pretrained

    state, typed = load_checkpoint(classifier)
    # paths of this machine mean nothing to a user of the model: make them relative to the repository
    config = repository_paths(typed.to_dict())
    config |= {"repo_id": REPO_ID, "license": "other"}
    config["training"] = {**config["training"], "data": [{**d, "terms": TERMS} for d in TRAINING_DATA]}
    shipped = config["training"]["init"]
    runs = {shipped: config["metrics"]} | {
        i: list(read_config(c).metrics or []) for i, c in others.items() if c.is_dir()
    }
    config["compared_with"] = [{"init": i, "metrics": m} for i, m in runs.items() if i != shipped]
    datasets = [m["dataset"] for m in config["metrics"]]
    header = "| fine-tuned | " + " | ".join(datasets) + " | shipped |\n|---|" + "---|" * (len(datasets) + 1) + "\n"
    table = ""
    for init, metrics in runs.items():
        scores = " | ".join(f"{m['value']:.2f}" for m in metrics)
        table += f"| {INIT_WORDS[init]} | {scores} | {'yes' if init == shipped else ''} |\n"
    rows = "\n".join(
        f"| {r['dataset']} | {r['class']} | {r['accuracy']:.1f} | {r['correct']} / {r['total']} |"
        for r in config.get("per_dataset_class", [])
    )
    cal = config["calibration"]
    if (bridge_result := classifier.parent.parent / "bridge.json").is_file():
        config["bridge_check"] = json.loads(bridge_result.read_text())
    ece = "".join(
        f"| {k} ({cal['samples'][k]}) | {v['before']:.4f} | {v['after']:.4f} |\n" for k, v in cal["ece"].items()
    )
    extra = (
        "## Cross-subject top-1 per dataset (%; test subjects never trained or calibrated on)\n\n"
        f"{header}{table}\n"
        "## Per-class accuracy of the shipped model (test subjects)\n\n"
        f"| dataset | action | accuracy (%) | correct / test clips |\n|---|---|---|---|\n{rows}\n\n"
        "## Calibration\n\n"
        f'Temperature {cal["temperature"]} ({cal["method"]}); "no action" below a top probability of '
        f"{cal['min_confidence']} ({cal['min_confidence_rule']}).\n\n"
        f"| clips | ECE before | ECE after |\n|---|---|---|\n{ece}\n"
        "Rebuild: `python pretrain/build_unified_model.py` (reads ../shared/data).\n"
    )
    keep_gestures(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_pretrained(tmp, state, config, card_extra=extra, repo_id=REPO_ID, overwrite_card=True)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    log.info("wrote %s", out)


def keep_gestures(out: Path) -> None:
    """Before the unified model takes the shipped ``default`` folder, move the UTD-MHAD model it holds to
    ``gestures`` (a move, not a copy: the shipped name ``gestures`` finds it there)."""
    from skelrec.checkpoint import read_config

    shipped = shipped_weights_dir()
    if out.resolve() != (shipped / "default").resolve() or (shipped / "gestures").exists():
        return
    if (out / "config.json").is_file() and read_config(out).repo_id == GESTURES_REPO_ID:
        os.replace(out, shipped / "gestures")
        log.info("moved the UTD-MHAD model %s to %s", out, shipped / "gestures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="halp", help="self-supervised method (pretrain/configs/METHOD)")
    parser.add_argument("--config", default="cpu_stgcn", help="pretrain/configs/METHOD/CONFIG.yaml")
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--finetune-epochs", type=int, default=60)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)
    parser.add_argument("--finetune-batch", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=0, help="stop each training run after N steps (smoke)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads of the in-process steps (0: torch's)")
    parser.add_argument("--target-accuracy", type=float, default=0.9, help="the 'no action' threshold's target")
    parser.add_argument("--ship", choices=INITS, default="pretrained", help="the fine-tuning init that is shipped")
    parser.add_argument("--inits", nargs="*", choices=INITS, default=list(INITS), help="fine-tuning runs to train")
    parser.add_argument("--align", action="store_true", help="fine-tune on clips rotated to face the camera")
    parser.add_argument("--depth-scale", nargs=2, type=float, metavar=("LOW", "HIGH"), help="depth augmentation")
    parser.add_argument(
        "--flip", type=float, default=0.0, metavar="P", help="mirror a fine-tuning clip left-right with probability P"
    )
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "unified", help="run folder")
    parser.add_argument("--out", type=Path, default=shipped_weights_dir() / "default", help="model folder written")
    parser.add_argument(
        "--steps", nargs="*", default=["prepare", "pretrain", "finetune", "calibrate", "bridge", "card"]
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)  # e.g. 1 beside another job on a 2-core machine
    os.chdir(ROOT)  # the cache paths are relative to the repository
    if args.ship not in args.inits:
        parser.error(f"--ship {args.ship} must be one of the trained --inits")
    encoder = args.run / "pretrain" / "encoder"
    classifiers = {init: args.run / f"finetune_{init}" / "classifier" for init in args.inits}
    if "prepare" in args.steps:
        prepare_shared_caches(ROOT / "caches")
    if "pretrain" in args.steps:
        pretrain(args.method, args.config, args.pretrain_epochs, run=args.run, data="unified", max_steps=args.max_steps)
    if "finetune" in args.steps:
        for init in sorted(args.inits, key=lambda i: i != args.ship):  # the shipped one first
            classifiers[init] = finetune(encoder, init, args.run, args)
    if "calibrate" in args.steps:
        for init in args.inits:
            calibrate(classifiers[init], args.target_accuracy)
    if "bridge" in args.steps:
        result = args.run / "bridge.json"
        bridge(classifiers[args.ship], run=args.run, out=result, command="python pretrain/build_unified_model.py")
    if "card" in args.steps:
        card(classifiers[args.ship], {i: c for i, c in classifiers.items() if i != args.ship}, args.out)


if __name__ == "__main__":
    main()
