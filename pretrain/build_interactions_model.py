"""Build the interaction model in weights/interactions: a self-supervised PKU-MMD encoder fine-tuned on the 8
two-person interaction classes, with its detection mAP on the validation streams.

    python pretrain/build_interactions_model.py                       # all steps; resumable (re-run the same command)
    python pretrain/build_interactions_model.py --encoder runs/mamp/pku_cpu/encoder
    python pretrain/build_interactions_model.py --steps card          # one or more steps (names below)
    python pretrain/build_interactions_model.py --encoder TINY --run /tmp/x --out /tmp/x/weights \\
        --max-steps 2 --epochs 1 --steps finetune card                # a smoke run (never writes weights/)

1. prepare   caches/pku_mmd_background: the 206 PKU-MMD phase-1 streams of ../shared/data cut into labelled
             instances and the background between them (skelrec prepare pku_mmd -o background=true; ``[start,
             end)``, both persons, ntu25)
2. finetune  the encoder (``--encoder``; default: the method with the best ``linear_top1`` in
             benchmarks/results/ssl_pku.json, its encoder from pretrain/configs/METHOD/pku_cpu.yaml's run folder) on
             the 8 interaction classes (giving something, handshaking, hugging, kicking, patting on the back, pointing
             at, punching/slapping, pushing), cross-subject: official training list trains, validation list is
             scored; twice, from the encoder (``pretrained``) and from a random encoder of its config (``random``, the
             control); MAMP's fine-tuning recipe (skelrec.evaluate.finetune) on the CPU
3. card      ``--out`` (default weights/interactions, the shipped name ``interactions``) from the ``--ship`` run:
             per-class accuracy, both runs, and the detection mAP when step 4 scored these weights
4. detect    benchmarks/pku_detection.py on the shipped run's classifier: tunes window/stride/smoothing/threshold/
             merging on training-list streams, scores the validation streams once
             (benchmarks/results/pku_detection_settings.json, pku_detection.json), then rewrites the card with it

The model has a 9th class, "no action", learnt from the frames between the labelled actions (``--background``, the
default; cache ``caches/pku_mmd_background``: ``PkuMmdReader(background=True)``, pieces of 1-4 s, 2,531 in training
against 1,510 actions; runs in ``runs/interactions_background``): a window whose top class is "no action" is no
action for the labeler, which is what temporal detection needs between the actions of a stream (validation mAP@0.5
0.733 with it, 0.577 without). ``--no-background`` builds the 8-class model (cache ``caches/pku_mmd``, runs in
``runs/interactions``; 100 epochs were used for it).

The 8 classes are chosen by the evaluation's class filter (``EvalContext.open(classes=...)``, ``--classes`` of
``skelrec evaluate``): the cache keeps all 51 PKU-MMD classes. Every step is resumable: a finished fine-tuning run
is kept, an interrupted one continues from its last checkpoint. Time on 2 CPU cores (cpu_small transformer, 32-frame
clips, 4,041 training clips with the background): about 30 minutes per fine-tuning run of 40 epochs at 2 threads
(measured 2026-12-08), 6 minutes for the detection step.
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

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pretrain"))

from build_default_model import INIT_WORDS, INITS, TERMS, repository_paths  # noqa: E402

from benchmarks.shared_data import prepare_shared_caches  # noqa: E402
from skelrec.datasets.base import BACKGROUND_CLASS  # noqa: E402
from skelrec.datasets.pku import PKU_MMD_INTERACTION_LABELS, PKU_MMD_INTERACTIONS  # noqa: E402
from skelrec.errors import SkelrecError  # noqa: E402
from skelrec.evaluate import EvalContext  # noqa: E402
from skelrec.paths import shipped_weights_dir  # noqa: E402

log = logging.getLogger("build_interactions_model")

REPO_ID = "skelrec/pku-mmd-interactions-ntu25"
CACHE = ROOT / "caches" / "pku_mmd"
SSL_RESULT = ROOT / "benchmarks" / "results" / "ssl_pku.json"
DETECTION_RESULT = ROOT / "benchmarks" / "results" / "pku_detection.json"
DETECTION_SETTINGS = ROOT / "benchmarks" / "results" / "pku_detection_settings.json"
PROTOCOL = "xsub"
INTERACTION_LABELS, INTERACTIONS = PKU_MMD_INTERACTION_LABELS, PKU_MMD_INTERACTIONS
CONTROLS = ("random_init", "supervised", "scratch")  # ssl_pku.json entries that are not self-supervised methods
TRAINING_DATA = [
    {
        "id": "pku_mmd",
        "name": "PKU-MMD phase 1, 8 two-person interaction classes, cross-subject training list (the streams present)",
        "url": "https://www.icst.pku.edu.cn/struct/Projects/PKUMMD.html",
    }
]


def model_classes(background: bool) -> tuple[str, ...]:
    """The classes the model learns: the 8 interactions, and "no action" (the frames between them) with
    ``background``."""
    return (*INTERACTIONS, BACKGROUND_CLASS) if background else INTERACTIONS


def open_context(encoder: Path, init: str, cache: Path = CACHE, classes: tuple[str, ...] = INTERACTIONS) -> EvalContext:
    """The cross-subject parts of ``cache`` holding ``classes`` only, relabelled ``0..K-1`` in that order."""
    return EvalContext.open(encoder, cache, PROTOCOL, init, classes=classes)  # type: ignore[arg-type]


def class_counts(part: Any) -> dict[str, int]:
    """Clips per class of a (restricted) cache part."""
    counts = np.bincount(np.asarray(part.labels), minlength=len(part.classes))
    return {name: int(n) for name, n in zip(part.classes, counts, strict=True)}


def best_encoder(result: Path = SSL_RESULT) -> Path:
    """The encoder of the method with the best ``linear_top1`` in the PKU SSL benchmark's result."""
    from skelrec.config import load_config

    if not result.is_file():
        raise SkelrecError(f"{result} is absent (benchmarks of issue 18 item 3 write it); pass --encoder PATH")
    doc = json.loads(result.read_text())
    methods = doc.get("methods", doc)
    scored = {
        m: r["linear_top1"]
        for m, r in methods.items()
        if isinstance(r, dict) and m not in CONTROLS and isinstance(r.get("linear_top1"), (int, float))
    }
    if not scored:
        raise SkelrecError(f"{result} has no method with a linear_top1; pass --encoder PATH")
    method = max(scored, key=scored.get)
    entry = methods[method]
    given = entry.get("encoder") or entry.get("checkpoint")
    if given:
        path = Path(given)
    else:
        config = ROOT / "pretrain" / "configs" / method / "pku_cpu.yaml"
        if not config.is_file():
            raise SkelrecError(f"best method {method}: no {config} to find its encoder; pass --encoder PATH")
        path = Path(load_config(config).run.out_dir) / "encoder"
    path = path if path.is_absolute() else ROOT / path
    if not (path / "config.json").is_file():
        raise SkelrecError(f"best method {method} ({scored[method]:.2f} linear): no encoder at {path}; pass --encoder")
    log.info("encoder: %s (%s, linear top-1 %.2f in %s)", path, method, scored[method], result.name)
    return path


def finetune(encoder: Path, init: str, run: Path, args: argparse.Namespace) -> Path:
    """Fine-tune on the interaction classes; the classifier goes to ``run/finetune_<init>/classifier``."""
    from skelrec.evaluate import FinetuneSettings
    from skelrec.evaluate.finetune import finetune_once

    folder = run / f"finetune_{init}"
    if (folder / "classifier" / "config.json").is_file():
        log.info("%s: done, kept", folder / "classifier")
        return folder / "classifier"
    ctx = open_context(encoder, init, args.data, model_classes(args.background))
    train_part = ctx.part("train")
    log.info("%s: %d training clips %s", init, len(train_part), class_counts(train_part))
    settings = FinetuneSettings(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch,
        max_steps=args.max_steps,
        amp="none",
    )
    command = " ".join(["python pretrain/build_interactions_model.py", *sys.argv[1:]])
    finetune_once(ctx, settings, folder, train_part=train_part, device="cpu", progress=False, command=command)
    return folder / "classifier"


def detection_of(classifier: Path, result: Path = DETECTION_RESULT) -> dict[str, Any] | None:
    """The detection benchmark's result when it scored exactly these weights, else ``None``."""
    from skelrec.checkpoint import WEIGHTS_NAME
    from skelrec.pose import file_digest

    if not result.is_file():
        return None
    doc = json.loads(result.read_text())
    if doc.get("model", {}).get("weights_digest") != file_digest(classifier / WEIGHTS_NAME):
        log.info("%s scored other weights than %s: not on the card", result, classifier)
        return None
    return doc


def card(classifier: Path, others: dict[str, Path], out: Path, detection: Path = DETECTION_RESULT) -> None:
    """``out`` from ``classifier``: per-class accuracy, the other fine-tuning runs, detection mAP when measured."""
    from skelrec.checkpoint import load_checkpoint, read_config
    from skelrec.hub.publish import save_pretrained

    state, typed = load_checkpoint(classifier)
    config = repository_paths(typed.to_dict())
    config |= {"repo_id": REPO_ID, "license": "other", "min_persons": 2}  # the labeler refuses videos (one person)
    config["training"] = {**config["training"], "data": [{**d, "terms": TERMS} for d in TRAINING_DATA]}
    shipped = config["training"]["init"]
    top1 = {shipped: config["metrics"][0]["value"]}
    top1 |= {i: read_config(c).metrics[0]["value"] for i, c in others.items() if (c / "config.json").is_file()}
    key = "pku_mmd_interactions_xsub_top1"
    config["compared_with"] = [{"init": i, key: v} for i, v in top1.items() if i != shipped]
    runs = "".join(f"| {INIT_WORDS[i]} | {v:.2f} | {'yes' if i == shipped else ''} |\n" for i, v in top1.items())
    rows = "\n".join(
        f"| {r['class']} | {r['accuracy']:.1f} | {r['correct']} / {r['total']} |"
        for r in config.get("per_class", [])
        if r["total"]
    )
    background, scored = "", "instances of the 8 classes"
    actions = [r for r in config.get("per_class", []) if r["class"] != BACKGROUND_CLASS]
    if len(actions) < len(config.get("per_class", [])):
        correct, total = sum(r["correct"] for r in actions), sum(r["total"] for r in actions)
        config["interactions_top1"] = round(100 * correct / max(total, 1), 2)
        scored = "instances of the 8 classes and the background clips between them"
        background = (
            f'A 9th class, "{BACKGROUND_CLASS}", is learnt from the frames between the labelled actions of the '
            "training streams (the labeler reports it as no action, never as an action); the test clips above "
            f"include the validation streams' background clips. Over the {total} interaction instances alone: "
            f"top-1 {config['interactions_top1']:.2f}.\n\n"
        )
    found = detection_of(classifier, detection)
    detected = "Not measured for these weights yet: `python pretrain/build_interactions_model.py --steps detect`.\n"
    if found is not None:
        config["detection"] = {k: found[k] for k in ("map", "instances", "settings", "command", "differences")}
        config["detection"]["per_class"] = found["model_classes"]["per_class"]
        maps, chosen = found["map"], found["settings"]
        joined = f", same-label segments at most {chosen['max_gap']:g} s apart joined" if chosen.get("max_gap") else ""
        joined += f", detections under {chosen['min_seconds']:g} s dropped" if chosen.get("min_seconds") else ""
        detected = (
            f"Validation-list streams ({len(found['streams'])}, {found['instances']} labelled instances), labelled "
            f"with `skelrec label STREAM --model interactions {chosen['skelrec_label_flags']}`{joined} (settings "
            "tuned on training-list streams only), segments scored as PKU-MMD detections:\n\n"
            "| mAP@0.1 | mAP@0.3 | mAP@0.5 |\n|---|---|---|\n"
            f"| {maps['0.1']:.3f} | {maps['0.3']:.3f} | {maps['0.5']:.3f} |\n\n"
            "Over the 8 interaction classes; differences from the papers' protocol: "
            + "; ".join(found["differences"])
            + ". Reference (all 51 classes, full validation list): HCN, IJCAI 2018, mAP@0.5 0.926 (cross-subject).\n"
        )
    extra = (
        "## What it is for\n\n"
        "Two-person interactions in **Kinect v2 / NTU RGB+D-format skeleton files** (25 joints, `ntu25`, two "
        "persons): PKU-MMD `.txt`/`.txt.xz`, NTU `.skeleton`, or a skelrec pose `.npz` with two persons in that "
        "layout. `skelrec label FILE --model interactions`. Two-person pose from video is not available: "
        "label Kinect/NTU-format skeleton files with this model, not videos.\n\n"
        f"## Cross-subject top-1 (%; PKU-MMD validation-list {scored})\n\n"
        f"| fine-tuned | top-1 | shipped |\n|---|---|---|\n{runs}\n"
        "## Per-class accuracy of the shipped model\n\n"
        f"| action | accuracy (%) | correct / test clips |\n|---|---|---|\n{rows}\n\n{background}"
        f"## Temporal detection on untrimmed streams\n\n{detected}\n"
        "Rebuild: `python pretrain/build_interactions_model.py` (reads ../shared/data).\n"
    )
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_pretrained(tmp, state, config, card_extra=extra, repo_id=REPO_ID, overwrite_card=True)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    log.info("wrote %s", out)


def detect(classifier: Path, args: argparse.Namespace) -> None:
    """Tune on training streams and score the validation streams with ``classifier`` (benchmarks/pku_detection.py)."""
    from benchmarks import pku_detection

    model = classifier.relative_to(ROOT) if classifier.is_relative_to(ROOT) else classifier  # cwd is ROOT
    argv = ["--model", str(model), "--tune", "--settings", str(args.detection_settings)]
    argv += ["--out", str(args.detection_result), "--tune-streams", str(args.tune_streams)]
    pku_detection.main(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", type=Path, default=None, help="pretrained encoder (default: best in ssl_pku)")
    parser.add_argument(
        "--background",
        action=argparse.BooleanOptionalAction,
        default=True,
        help='a 9th class, "no action", learnt from the frames between the labelled actions (cache '
        "caches/pku_mmd_background): the labeler then says no action on its own",
    )
    parser.add_argument("--data", type=Path, default=None, help="the prepared PKU-MMD cache (default: by --background)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--max-steps", type=int, default=0, help="stop each fine-tuning run after N steps (smoke)")
    parser.add_argument("--ship", choices=INITS, default="pretrained", help="the fine-tuning init that is shipped")
    parser.add_argument("--inits", nargs="*", choices=INITS, default=list(INITS), help="fine-tuning runs to train")
    parser.add_argument("--run", type=Path, default=None, help="run folder (default: runs/interactions[_background])")
    parser.add_argument("--out", type=Path, default=shipped_weights_dir() / "interactions", help="model folder")
    parser.add_argument("--tune-streams", type=int, default=40, help="training streams the detection tuning reads")
    parser.add_argument("--detection-result", type=Path, default=DETECTION_RESULT)
    parser.add_argument("--detection-settings", type=Path, default=DETECTION_SETTINGS)
    parser.add_argument("--steps", nargs="*", default=["prepare", "finetune", "card", "detect"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 leaves a core for other work)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)  # cache and run paths in configs are relative to the repository
    cache_name = "pku_mmd_background" if args.background else "pku_mmd"
    args.data = args.data or ROOT / "caches" / cache_name
    args.run = args.run or ROOT / "runs" / ("interactions_background" if args.background else "interactions")
    if args.ship not in args.inits:
        parser.error(f"--ship {args.ship} must be one of the trained --inits")
    classifiers = {init: args.run / f"finetune_{init}" / "classifier" for init in args.inits}
    others = {i: c for i, c in classifiers.items() if i != args.ship}
    try:
        if "prepare" in args.steps:
            prepare_shared_caches(ROOT / "caches", [cache_name])
        if "finetune" in args.steps:
            encoder = args.encoder or best_encoder()
            for init in sorted(args.inits, key=lambda i: i != args.ship):  # the shipped one first
                classifiers[init] = finetune(encoder, init, args.run, args)
        if "card" in args.steps:
            card(classifiers[args.ship], others, args.out, args.detection_result)
        if "detect" in args.steps:
            detect(classifiers[args.ship], args)
            card(classifiers[args.ship], others, args.out, args.detection_result)
    except SkelrecError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
