"""Real-data learning check on the CPU: pretrain every self-supervised method on the skeleton data in
../shared/data, then linear probe and kNN on NW-UCLA with a held-out split, against the random-init and
supervised-from-scratch controls run through the same code.

    python benchmarks/ssl_cpu.py prepare              # caches/<dataset> from ../shared/data (seconds)
    python benchmarks/ssl_cpu.py pretrain mamp ...    # runs/ssl_cpu/<method>; resumable (re-run the same command)
    python benchmarks/ssl_cpu.py evaluate mamp ...    # linear + kNN of each method, and the controls
    python benchmarks/ssl_cpu.py report               # benchmarks/results/ssl_cpu.json + a Markdown table
    python benchmarks/ssl_cpu.py all                  # everything, in order (about 75 minutes on 2 CPU cores)
    python benchmarks/ssl_cpu.py all --epochs 100     # every method 100 epochs: runs/ssl_cpu_e100, ssl_cpu_e100.json

Each method pretrains for its ``cpu_small.yaml``'s own length (MAMP and SkeletonMAE 40 epochs, Skeleton2vec and HaLP
100, MacDiff 200: the lengths at which each did best on this data, see the configs; no length helped SkeletonMAE).
``--epochs N`` pretrains every method N epochs instead and scales the step-counted schedules with it (HaLP's
``halp_start_step``, Skeleton2vec's ``ema_anneal_steps``, the warm-up), so a longer or shorter run is the same recipe
stretched.

Pretraining data (all converted to the Kinect v1 20-joint layout, one person): NW-UCLA cross-subject training
part, UTD-MHAD, MSR Action3D, PKU-MMD clips, the NTU-60 samples, MSRC-12 and MSR DailyActivity3D recordings
(``pretrain/configs/_base_/data_cpu_real.yaml``). Evaluation: NW-UCLA ``xsub`` (odd subjects train / even test);
the same commands run the standard cross-view protocol (``--protocol xview``) when view-3 files are present.
Every probe runs with seeds 0, 1, 2 (the random-init controls' weights, the linear probe's data order) and the
report gives means and standard deviations. Each method is compared with two random-init controls: its own
encoder config with random weights, and the shared transformer control ``random_init``; the target (issues #3,
#4) is 10 linear-probe points over both.

Each method's encoder config is also trained from scratch WITH the labels through exactly the probed feature
(``skelrec evaluate finetune --init random --head linear --pooling mean --no-downstream``, MAMP's fine-tuning recipe):
what the labelled training clips alone make of that architecture and feature, reported as
``supervised_probe_feature`` with ``linear_over_supervised``, the linear probe's points over it. It is a reference,
not a ceiling: a frozen encoder pretrained on the ~2,200 unlabelled clips can beat 506 labelled ones.

Evaluation is resumable: a result file newer than the method's encoder is kept, not recomputed.

More unlabelled motion (issue 18, item 4): ``--pku-streams F`` adds the fraction ``F`` (0, 0.25 or 1.0) of the 181
PKU-MMD streams that came after the 25 plain-text ones (``skeletons_xz``, all on the cross-subject training list) to
every method's pretraining data, as 120-frame crops every 60 frames (``caches/pku_mmd_streams_added_<p>``, prepared
by ``prepare``), converted by the loader like every other source to the Kinect v1 20-joint layout, main person only.
The streams are chosen by stream with seed 0, and the 25 % are part of the 100 % (``benchmarks/shared_data.py``,
``skelrec.datasets.pku_streams``). Epochs stay the configs' own, so a run with more data trains more steps; the
step-counted schedules (HaLP's ``halp_start_step``, Skeleton2vec's ``ema_anneal_steps``) are scaled by the clip count
so they stay the same part of the run. Runs go to ``runs/ssl_cpu_pku<p>`` and ``ssl_cpu_pku<p>.json`` (with
``--epochs N``: ``ssl_cpu_e<N>_pku<p>``)::

    python benchmarks/ssl_cpu.py all mamp macdiff --pku-streams 0.25
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402
from benchmarks.run_records import epochs_done, fresh, last_step, metric, throughput  # noqa: E402
from benchmarks.shared_data import SMALL_CPU_DATA, pku_added_streams, prepare_shared_caches  # noqa: E402
from skelrec.files import atomic_write_text  # noqa: E402

METHODS = ("mamp", "macdiff", "skeleton2vec", "skeletonmae", "halp")
CONTROL_ARCH = "mamp"  # the random-init and supervised controls use this method's encoder architecture
OWN_CONTROL_PREFIX = "random_"  # <run>/<method>/random_linear.json: the method's encoder config, random weights
EVAL_SEEDS = (0, 1, 2)  # probes repeated with these seeds (random-init weights, data order); means are reported
TARGET_MARGIN = 10.0  # linear-probe points over the random-init controls (issues #3, #4)
SUPERVISED_PROBE = "supervised_probe_feature.json"  # <run>/<method>/: its encoder trained with labels, probe feature
SUPERVISED_PROBE_ARGS = ("--init", "random", "--head", "linear", "--pooling", "mean", "--no-downstream")
EVAL_DATA, EVAL_PROTOCOL = "caches/nw_ucla", "xsub"
STEP_SCHEDULES = {  # step-counted method options of the cpu_small configs, stretched with the epochs
    "halp": ("halp_start_step",),
    "skeleton2vec": ("ema_anneal_steps",),
}
RUNS = ROOT / "runs" / "ssl_cpu"
RESULT = ROOT / "benchmarks" / "results" / "ssl_cpu.json"
ADDED: str | None = None  # the cache of added PKU-MMD streams (--pku-streams), None for none


def use_epochs(epochs: int | None, pku_streams: float = 0.0) -> None:
    """Point the run folder and the result file at the variant of the benchmark where every method pretrains
    ``epochs`` epochs (``None``: each its config's own length, ``runs/ssl_cpu`` and ``ssl_cpu.json``) on the small
    data plus the fraction ``pku_streams`` of the added PKU-MMD streams (``_pku<percent>`` when not 0)."""
    global RUNS, RESULT, ADDED
    ADDED = pku_added_streams(pku_streams)
    name = "ssl_cpu" + (f"_e{epochs}" if epochs is not None else "")
    name += f"_pku{round(pku_streams * 100)}" if ADDED else ""
    RUNS = ROOT / "runs" / name
    RESULT = ROOT / "benchmarks" / "results" / f"{name}.json"


def data_overrides(method: str) -> list[str]:
    """``data.paths`` of ``method``'s cpu_small config plus the added PKU-MMD streams (none without them)."""
    if ADDED is None:
        return []
    from skelrec.config import load_config

    cfg = load_config(ROOT / "pretrain" / "configs" / method / "cpu_small.yaml")
    return ["data.paths=[" + ",".join([*cfg.data.paths, f"caches/{ADDED}"]) + "]"]


def _clip_count(method: str, overrides: list[str]) -> int:
    """Pretraining clips of ``method``'s cpu_small config with ``overrides`` (read from the caches' indexes)."""
    from skelrec.config import load_config
    from skelrec.datasets.torch_data import open_prepared

    cfg = load_config(ROOT / "pretrain" / "configs" / method / "cpu_small.yaml", overrides)
    with contextlib.chdir(ROOT):  # the configs' cache paths are relative to the repository
        return len(open_prepared(cfg.data))


def epoch_overrides(method: str, epochs: int | None) -> list[str]:
    """Config overrides that stretch (or shrink) ``method``'s cpu_small schedule from its own length to ``epochs``,
    and its step-counted schedules with the clips the added PKU-MMD streams bring (module docstring)."""
    if epochs is None and ADDED is None:
        return []
    from skelrec.config import load_config

    cfg = load_config(ROOT / "pretrain" / "configs" / method / "cpu_small.yaml")
    scale = 1.0 if epochs is None else epochs / cfg.optim.epochs
    out = []
    if epochs is not None:
        out += [f"optim.epochs={epochs}", f"optim.warmup_epochs={cfg.optim.warmup_epochs * scale:g}"]
    steps = scale * (_clip_count(method, data_overrides(method)) / _clip_count(method, []) if ADDED else 1.0)
    out += [f"method.kwargs.{key}={round(cfg.method.kwargs[key] * steps)}" for key in STEP_SCHEDULES.get(method, ())]
    return out


def skelrec(*args: str) -> None:
    cmd = [sys.executable, "-m", "skelrec.cli", *args]
    print("+", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def prepare() -> None:
    for name, path in prepare_shared_caches(ROOT / "caches", [*SMALL_CPU_DATA, *([ADDED] if ADDED else [])]).items():
        print(f"{name}: {path}")


def pretrain(method: str, epochs: int | None = None) -> None:
    """Pretrain (or resume) ``method``; ``wall_seconds.txt`` adds up the time of the invocations that trained."""
    out = RUNS / method
    wall = out / "wall_seconds.txt"
    before, start = last_step(out), time.time()
    skelrec(
        "pretrain",
        f"pretrain/configs/{method}/cpu_small.yaml",
        f"run.out_dir={out}",
        *epoch_overrides(method, epochs),
        *data_overrides(method),
    )
    if last_step(out) == before:  # the run was complete already: nothing trained, the recorded time stands
        return
    earlier = float(wall.read_text()) if before and wall.exists() else 0.0  # a resumed run adds to its first part
    wall.write_text(f"{earlier + time.time() - start:.1f}\n")


def evaluate(name: str) -> None:
    """Linear probe and kNN of ``name``'s encoder; for ``random_init``/``supervised`` the controls."""
    arch = CONTROL_ARCH if name in ("random_init", "supervised") else name
    ckpt = str(RUNS / arch / "encoder")
    out = RUNS / name
    out.mkdir(parents=True, exist_ok=True)
    common = ["--data", EVAL_DATA, "--protocol", EVAL_PROTOCOL]

    def run(protocol: str, out_file: Path, *args: str) -> None:
        if fresh(out_file, Path(ckpt)):
            print(f"= {out_file.relative_to(ROOT) if out_file.is_relative_to(ROOT) else out_file} is up to date")
            return
        skelrec("evaluate", protocol, ckpt, *common, *args, "--out", str(out_file))

    if name == "supervised":
        run("finetune", out / "finetune.json", "--init", "random")
        return
    probes = [("", name == "random_init")]
    if name in METHODS:  # the method's own encoder config with random weights: what pretraining adds to it
        probes.append((OWN_CONTROL_PREFIX, True))
    for prefix, random in probes:
        init = ["--init", "random"] if random else []
        for protocol in ("linear", "knn"):
            for seed in EVAL_SEEDS:
                run(protocol, _probe_file(out, f"{prefix}{protocol}", seed), *init, "--seed", str(seed))
    if name in METHODS:  # the encoder config trained with the labels through the probe's feature
        run("finetune", out / SUPERVISED_PROBE, *SUPERVISED_PROBE_ARGS)


def _probe_file(folder: Path, stem: str, seed: int) -> Path:
    """``linear.json`` for seed 0 (as before seeds were repeated), ``linear_seed1.json`` for seed 1, ..."""
    return folder / (f"{stem}.json" if seed == 0 else f"{stem}_seed{seed}.json")


def _over_seeds(folder: Path, stem: str) -> dict:
    """Mean, standard deviation and per-seed values of a probe's top-1 over the seeds measured so far."""
    values = [v for v in (metric(_probe_file(folder, stem, seed)) for seed in EVAL_SEEDS) if v is not None]
    if not values:
        return {"mean": None, "std": None, "seeds": []}
    return {"mean": round(statistics.fmean(values), 2), "std": round(statistics.pstdev(values), 2), "seeds": values}


def _shared_control() -> Path:
    """The shared random-init control's folder: this run's, or (it does not depend on the pretraining length) that
    of another length's run, for a run that pretrained only some methods."""
    if _probe_file(RUNS / "random_init", "linear", 0).exists():
        return RUNS / "random_init"
    others = sorted(p for p in RUNS.parent.glob("ssl_cpu*/random_init") if _probe_file(p, "linear", 0).exists())
    return others[0] if others else RUNS / "random_init"


def _margins(method: str, linear: float | None, shared: float | None) -> dict:
    """The method's random-init control of its own encoder config, and its linear-probe margins over both controls
    (its own, and the shared transformer ``random_init``, whose linear top-1 is ``shared``); the target is a margin
    of ``TARGET_MARGIN`` or more."""
    own = {key: _over_seeds(RUNS / method, f"{OWN_CONTROL_PREFIX}{key}") for key in ("linear", "knn")}
    controls = {"own_encoder": own["linear"]["mean"], "random_init": shared}
    margin = {
        key: None if linear is None or control is None else round(linear - control, 2)
        for key, control in controls.items()
    }
    supervised = metric(RUNS / method / SUPERVISED_PROBE)
    return {
        "random_init_own_encoder": {
            "linear_top1": own["linear"]["mean"],
            "knn_top1": own["knn"]["mean"],
            "linear_top1_std": own["linear"]["std"],
            "seeds": {key: own[key]["seeds"] for key in own},
        },
        "linear_margin": margin,
        "meets_target": None if None in margin.values() else min(margin.values()) >= TARGET_MARGIN,
        "supervised_probe_feature": {
            "linear_top1": None if supervised is None else round(supervised, 2),
            "command": f"skelrec evaluate finetune <encoder> --data {EVAL_DATA} --protocol {EVAL_PROTOCOL} "
            + " ".join(SUPERVISED_PROBE_ARGS),
        },
        "linear_over_supervised": None if supervised is None or linear is None else round(linear - supervised, 2),
    }


def report(epochs: int | None = None, pku_streams: float = 0.0) -> None:
    entries = {}
    shared = _shared_control()
    shared_linear = _over_seeds(shared, "linear")["mean"]
    for name in (*METHODS, "random_init", "supervised"):
        run = RUNS / (CONTROL_ARCH if name in ("random_init", "supervised") else name)
        folder = shared if name == "random_init" else RUNS / name
        linear, knn = _over_seeds(folder, "linear"), _over_seeds(folder, "knn")
        entry = {
            "linear_top1": linear["mean"],
            "knn_top1": knn["mean"],
            "linear_top1_std": linear["std"],
            "knn_top1_std": knn["std"],
            "seeds": {"linear": linear["seeds"], "knn": knn["seeds"]},
            "split": f"NW-UCLA {EVAL_PROTOCOL} (odd subjects train, even subjects test)",
            "epochs": epochs_done(run) if name not in ("random_init", "supervised") else 0,
            "samples_per_s": throughput(run) if name not in ("random_init", "supervised") else None,
        }
        if name == "random_init":
            entry["measured_in"] = f"runs/{folder.parent.name}/{folder.name}"  # epoch-independent
        if name == "supervised":
            entry["finetune_top1"] = metric(RUNS / name / "finetune.json")
        if name in METHODS:
            entry.update(_margins(name, entry["linear_top1"], shared_linear))
        wall = run / "wall_seconds.txt"
        if name in METHODS and wall.exists():
            entry["pretrain_wall_seconds"] = float(wall.read_text())
        entries[name] = entry
    result = {
        "benchmark": "ssl_cpu",
        "command": "python benchmarks/ssl_cpu.py all"
        + (f" --epochs {epochs}" if epochs is not None else "")
        + (f" --pku-streams {pku_streams:g}" if ADDED else ""),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "pretraining_data": sorted([*SMALL_CPU_DATA, *([ADDED] if ADDED else [])]),
        "added_pku_streams": pku_streams if ADDED else 0.0,
        "methods": entries,
    }
    atomic_write_text(RESULT, json.dumps(result, indent=2) + "\n")
    print(
        "| method | linear top-1 | kNN top-1 | own encoder random: linear / kNN | margin "
        "| supervised through the probe feature | epochs | samples/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, e in entries.items():
        own = e.get("random_init_own_encoder", {})
        control = f"{own.get('linear_top1')} / {own.get('knn_top1')}" if own else "–"
        supervised = e.get("supervised_probe_feature", {}).get("linear_top1", "–")
        print(
            f"| {name} | {e['linear_top1']} | {e['knn_top1']} | {control} | {e.get('linear_margin', '–')} "
            f"| {supervised} | {e['epochs']} | {e['samples_per_s']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["prepare", "pretrain", "evaluate", "report", "all"])
    parser.add_argument("names", nargs="*", help="methods (default: all), or random_init / supervised for evaluate")
    parser.add_argument("--epochs", type=int, help="pretraining epochs of every method (default: each config's own)")
    parser.add_argument(
        "--pku-streams",
        type=float,
        default=0.0,
        choices=[0.0, 0.25, 1.0],
        help="add this fraction of the 181 added PKU-MMD streams to the pretraining data (default: 0)",
    )
    args = parser.parse_args()
    use_epochs(args.epochs, args.pku_streams)
    names = args.names or list(METHODS)
    if args.stage in ("prepare", "all"):
        prepare()
    if args.stage in ("pretrain", "all"):
        for name in names:
            pretrain(name, args.epochs)
    if args.stage in ("evaluate", "all"):
        for name in args.names or [*METHODS, "random_init", "supervised"]:
            evaluate(name)
    if args.stage in ("report", "all"):
        report(args.epochs, args.pku_streams)


if __name__ == "__main__":
    main()
