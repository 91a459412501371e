"""Self-supervised pretraining on the PKU-MMD streams, evaluated on its eight two-person interaction classes.

    python benchmarks/ssl_pku.py prepare              # caches/pku_mmd_streams + caches/pku_mmd (about 2 minutes)
    python benchmarks/ssl_pku.py pretrain mamp ...    # runs/ssl_pku/<method>; resumable (re-run the same command)
    python benchmarks/ssl_pku.py evaluate mamp ...    # every probe of each method and its controls; resumable
    python benchmarks/ssl_pku.py report               # benchmarks/results/ssl_pku.json + a Markdown table
    python benchmarks/ssl_pku.py all                  # everything, in order, one heavy job at a time

Pretraining: each method's ``pretrain/configs/<method>/pku_cpu.yaml`` (its cpu_small recipe, about an hour here) on
sliding crops over the untrimmed streams of the cross-subject TRAINING list (``caches/pku_mmd_streams``: action and
non-action frames, both persons, ``ntu25``); a validation-list stream is never read. MacDiff first gets the input
statistics of that data (:func:`benchmarks.shared_data.macdiff_input_statistics`, written to
``runs/ssl_pku/macdiff/input_statistics.json`` and passed as overrides).

Evaluation: the trimmed instances of ``caches/pku_mmd`` restricted to the eight interaction classes (PKU-MMD labels
12, 14, 16, 18, 21, 24, 26, 27; ``skelrec evaluate ... --classes``), protocols ``xsub`` and ``xview`` (official
lists). Per method and protocol, each against the same encoder architecture without pretraining:

* linear probe and kNN of the frozen encoder (seeds 0, 1, 2) vs a random encoder of its config (``--init random``);
  the linear probe twice: on the encoder's mean over persons, time and joints (MAMP's ``main_linprobe.py``,
  ``linear_top1``) and on the per-joint feature, the mean over persons and time with the joint tokens concatenated
  (MacDiff's ``linprobe2``, ``--pooling joints``, ``linear_joints_top1``);
* fine-tuning on all training labels vs supervised from scratch (``finetune --init random``);
* semi-supervised fine-tuning on 1 % and 10 % of the training labels (seeds 0, 1, 2: mean ± std) vs scratch.

A random-init control depends on the encoder's architecture and input, not on the method that pretrained it: when
another method's encoder has the same (MAMP and MacDiff: the 4x64 transformer on 32-frame two-person clips), its
control result is copied (``shared_control`` names the file) instead of trained again.

SkeletonMAE is judged by its paper's protocol (Yan et al., ICCV'23): its GIN fine-tuned inside STRL (the default
downstream model of a GIN checkpoint) against the same STRL from a random GIN, with all and with 10 % of the labels;
``methods.skeletonmae.paper_protocol`` records both and the gains. Fine-tuning runs ``--finetune-epochs`` (30: the
MAMP recipe's 100 would take about 9 hours here for all methods) and semi-supervised runs MAMP's 100 epochs.

``--max-steps N`` (every pretraining and fine-tuning run stops after N steps), ``--finetune-epochs``,
``--semi-fractions``/``--semi-seeds``/``--seeds``, ``--eval-data`` and ``--runs``/``--result`` make a quick smoke run of
the whole chain on a small cache without touching the real run folder or result file.

Evaluation is resumable: a result file newer than the method's encoder is kept, not recomputed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402
from benchmarks.run_records import epochs_done, fresh, last_step, metric, result_metrics, throughput  # noqa: E402
from benchmarks.shared_data import macdiff_input_statistics, prepare_shared_caches  # noqa: E402
from skelrec.datasets.pku import PKU_MMD_INTERACTION_LABELS, PKU_MMD_INTERACTIONS  # noqa: E402
from skelrec.files import atomic_write_text  # noqa: E402

METHODS = ("mamp", "macdiff", "skeleton2vec", "halp", "skeletonmae")
INTERACTION_LABELS, INTERACTIONS = PKU_MMD_INTERACTION_LABELS, PKU_MMD_INTERACTIONS
PROTOCOLS = ("xsub", "xview")
PRIMARY = "xsub"  # the protocol whose numbers are the method's top-level entries
CACHES = ("pku_mmd_streams", "pku_mmd")
STATISTICS = "input_statistics.json"  # runs/ssl_pku/macdiff/: MacDiff's input_mean / input_var for its data
JOINT_POOLING = "joints"  # the second linear probe: MacDiff's linprobe2 (skelrec.models.pooling)
PROBES = (("linear", "linear"), ("knn", "knn"), (f"linear_{JOINT_POOLING}", "linear", "--pooling", JOINT_POOLING))
"""Frozen-encoder probes per seed: (result file stem, ``skelrec evaluate`` protocol, its extra options)."""
PAPER_METHOD = "skeletonmae"  # judged by STRL fine-tuning from its GIN vs from a random GIN (full and 10 % labels)


@dataclass
class Settings:
    """Where the benchmark runs and how long each part trains (the defaults are the real benchmark)."""

    runs: Path = ROOT / "runs" / "ssl_pku"
    result: Path = ROOT / "benchmarks" / "results" / "ssl_pku.json"
    caches: Path = ROOT / "caches"
    eval_data: Path = ROOT / "caches" / "pku_mmd"
    protocols: tuple[str, ...] = PROTOCOLS
    seeds: tuple[int, ...] = (0, 1, 2)  # linear probe and kNN
    semi_fractions: tuple[float, ...] = (0.01, 0.1)
    semi_seeds: tuple[int, ...] = (0, 1, 2)
    finetune_epochs: int = 30
    semi_epochs: int = 100
    max_steps: int | None = None
    extra: list[str] = field(default_factory=list)  # the options that differ from the defaults, for "command"

    def semi_protocols(self) -> tuple[str, ...]:
        return tuple(p for p in self.protocols if p == PRIMARY) or self.protocols[:1]


def measured_run(cmd: Sequence[str]) -> int:
    """Run ``cmd`` in the repository and return its peak resident memory in MB (``os.wait4``: this child only)."""
    print("+", shlex.join(cmd[2:] if cmd[0] == sys.executable else cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return round(usage.ru_maxrss / 1024)  # kilobytes on Linux


def skelrec_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "skelrec.cli", *args]


def prepare(s: Settings) -> None:
    for name, path in prepare_shared_caches(s.caches, list(CACHES)).items():
        print(f"{name}: {path}")


def pretrain_command(method: str, s: Settings) -> list[str]:
    """The ``skelrec pretrain`` arguments of ``method`` (with MacDiff's input statistics once they are measured)."""
    out = s.runs / method
    args = ["pretrain", f"pretrain/configs/{method}/pku_cpu.yaml", f"run.out_dir={out}"]
    args += [f"data.paths=[{_shown(s.caches / 'pku_mmd_streams')}]"]
    if s.max_steps:
        args.append(f"run.max_steps={s.max_steps}")
    stats = out / STATISTICS
    if method == "macdiff" and stats.exists():
        measured = json.loads(stats.read_text())
        args += [f"method.kwargs.{key}=[{','.join(f'{v:.4f}' for v in measured[key])}]" for key in measured]
    return args


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when it lies inside it (the recorded commands stay portable)."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def input_statistics(s: Settings) -> None:
    """MacDiff's ``input_mean`` / ``input_var`` of its pretraining data (once; delete the file to measure again)."""
    path = s.runs / "macdiff" / STATISTICS
    if path.exists():
        return
    config = ROOT / "pretrain" / "configs" / "macdiff" / "pku_cpu.yaml"
    mean, var = macdiff_input_statistics(config, [f"data.paths=[{s.caches / 'pku_mmd_streams'}]"])
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"input_mean": mean, "input_var": var}, indent=2) + "\n")


def pretrain(method: str, s: Settings) -> None:
    """Pretrain (or resume) ``method``; records the wall time of the invocations that trained and the peak RSS."""
    out = s.runs / method
    if method == "macdiff":
        input_statistics(s)
    args = pretrain_command(method, s)
    before, start = last_step(out), time.time()
    peak = measured_run(skelrec_cmd(*args))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "command.txt", shlex.join(["skelrec", *args]) + "\n")
    if last_step(out) == before:  # the run was complete already: nothing trained, the records stand
        return
    wall, rss = out / "wall_seconds.txt", out / "peak_rss_mb.txt"
    earlier = float(wall.read_text()) if before and wall.exists() else 0.0
    atomic_write_text(wall, f"{earlier + time.time() - start:.1f}\n")
    atomic_write_text(rss, f"{max(peak, int(rss.read_text()) if before and rss.exists() else 0)}\n")


# ----------------------------------------------------------------------------------------------------------------
# Evaluation: result files <runs>/<method>/eval/<protocol>/<probe>[_seed<s>].json
# ----------------------------------------------------------------------------------------------------------------


def eval_file(s: Settings, method: str, protocol: str, stem: str, seed: int | None = None) -> Path:
    return s.runs / method / "eval" / protocol / (f"{stem}.json" if seed is None else f"{stem}_seed{seed}.json")


def evaluate(method: str, s: Settings) -> None:
    """Every probe of ``method`` and its controls, one process at a time; fresh result files are kept."""
    encoder = s.runs / method / "encoder"
    classes = [arg for name in INTERACTIONS for arg in ("--classes", name)]
    steps = ["--max-steps", str(s.max_steps)] if s.max_steps else []

    def run(protocol: str, out: Path, *args: str) -> None:
        if fresh(out, encoder):
            print(f"= {out} is up to date")
            return
        twin = shared_control(s, method, out) if args[args.index("--init") + 1] == "random" else None
        if twin is not None:
            doc = json.loads(twin.read_text()) | {"shared_control": str(twin.relative_to(s.runs))}
            atomic_write_text(out, json.dumps(doc, indent=2) + "\n")
            print(f"= {out}: the same random-init control as {twin}")
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        common = ["--data", str(s.eval_data), "--protocol", protocol, *classes, "--device", "cpu"]
        measured_run(skelrec_cmd("evaluate", *args[:1], str(encoder), *common, *args[1:], "--out", str(out)))

    for protocol in s.protocols:
        for init in ("pretrained", "random"):
            prefix = "" if init == "pretrained" else "random_"
            for stem, probe, *options in PROBES:
                for seed in s.seeds:
                    out = eval_file(s, method, protocol, f"{prefix}{stem}", seed)
                    run(protocol, out, probe, "--init", init, "--seed", str(seed), *options)
            ft = ["--epochs", str(s.finetune_epochs), *steps]
            run(protocol, eval_file(s, method, protocol, f"{prefix}finetune"), "finetune", "--init", init, *ft)
    for protocol in s.semi_protocols():
        for init in ("pretrained", "random"):
            semi = ["--epochs", str(s.semi_epochs), *steps]
            semi += [a for f in s.semi_fractions for a in ("--fraction", f"{f:g}")]
            semi += [a for seed in s.semi_seeds for a in ("--seed", str(seed))]
            prefix = "" if init == "pretrained" else "random_"
            run(protocol, eval_file(s, method, protocol, f"{prefix}semi"), "semi", "--init", init, *semi)


def encoder_input(encoder: Path) -> dict | None:
    """What a random-init control of ``encoder`` depends on: its architecture and its input (layout, clip length,
    persons, normalization, channels, test crop), not the method that trained it; ``None`` without a config."""
    path = encoder / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text())
    data = {k: v for k, v in (config.get("data") or {}).items() if k not in ("paths", "protocol", "part", "augment")}
    keys = ("encoder", "layout", "normalization", "clip_length", "num_persons")
    return {**{k: config.get(k) for k in keys}, "data": data}


def shared_control(s: Settings, method: str, out: Path) -> Path | None:
    """Another method's result file of the same random-init control (same stem and protocol), when that method's
    encoder has the same architecture and input as ``method``'s (MAMP and MacDiff share the 4x64 transformer): the
    control is the same random encoder trained the same way, so it is measured once."""
    mine = encoder_input(s.runs / method / "encoder")
    if mine is None:
        return None
    for other in METHODS:
        twin = s.runs / other / out.relative_to(s.runs / method)
        encoder = s.runs / other / "encoder"
        if other == method or not fresh(twin, encoder) or "shared_control" in json.loads(twin.read_text()):
            continue
        if encoder_input(encoder) == mine:
            return twin
    return None


# ----------------------------------------------------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------------------------------------------------


def _over_seeds(s: Settings, method: str, protocol: str, stem: str) -> dict:
    """Mean and population standard deviation of a probe's top-1 over the seeds measured so far."""
    values = [v for v in (metric(eval_file(s, method, protocol, stem, seed)) for seed in s.seeds) if v is not None]
    if not values:
        return {"mean": None, "std": None, "seeds": []}
    return {"mean": round(statistics.fmean(values), 2), "std": round(statistics.pstdev(values), 2), "seeds": values}


def _semi(s: Settings, method: str, protocol: str) -> dict:
    """``{"1": {"pretrained": {mean, std, runs}, "scratch": {...}, "gain": points}, "10": ...}``."""
    out: dict = {}
    for init, prefix in (("pretrained", ""), ("scratch", "random_")):
        path = eval_file(s, method, protocol, f"{prefix}semi")
        metrics = result_metrics(path)
        for fraction in s.semi_fractions:
            key = f"{fraction * 100:g}"
            found = metrics.get(f"{key}%", {})
            mean, std = found.get("top1_mean"), found.get("top1_std")
            entry = {"mean": _round(mean), "std": _round(std), "runs": found.get("runs")}
            out.setdefault(key, {})[init] = entry
    for entry in out.values():
        entry["gain"] = _gain(entry["pretrained"]["mean"], entry["scratch"]["mean"])
    return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _gain(pretrained: float | None, control: float | None) -> float | None:
    return None if pretrained is None or control is None else round(pretrained - control, 2)


def protocol_entry(s: Settings, method: str, protocol: str) -> dict:
    """The numbers of ``method`` on one protocol, each beside its control of the same architecture."""
    linear, knn = _over_seeds(s, method, protocol, "linear"), _over_seeds(s, method, protocol, "knn")
    random_linear, random_knn = (_over_seeds(s, method, protocol, f"random_{p}") for p in ("linear", "knn"))
    joints, random_joints = (_over_seeds(s, method, protocol, f"{p}linear_{JOINT_POOLING}") for p in ("", "random_"))
    finetune = _round(metric(eval_file(s, method, protocol, "finetune")))
    scratch = _round(metric(eval_file(s, method, protocol, "random_finetune")))
    entry = {
        "linear_top1": linear["mean"],
        "linear_top1_std": linear["std"],
        "linear_joints_top1": joints["mean"],
        "linear_joints_top1_std": joints["std"],
        "knn_top1": knn["mean"],
        "knn_top1_std": knn["std"],
        "finetune_top1": finetune,
        "random_init": {
            "linear_top1": random_linear["mean"],
            "linear_joints_top1": random_joints["mean"],
            "knn_top1": random_knn["mean"],
        },
        "scratch": {"finetune_top1": scratch},
        "gains": {
            "linear_over_random": _gain(linear["mean"], random_linear["mean"]),
            "knn_over_random": _gain(knn["mean"], random_knn["mean"]),
            "finetune_over_scratch": _gain(finetune, scratch),
            "linear_under_scratch": _gain(scratch, linear["mean"]),  # target: <= 3 points (issue 18)
            "linear_joints_over_random": _gain(joints["mean"], random_joints["mean"]),
            "linear_joints_under_scratch": _gain(scratch, joints["mean"]),
        },
        "seeds": {"linear": linear["seeds"], "linear_joints": joints["seeds"], "knn": knn["seeds"]},
    }
    if protocol in s.semi_protocols():
        entry["semi"] = _semi(s, method, protocol)
    return entry


def paper_protocol(entry: dict) -> dict:
    """SkeletonMAE's own bar: STRL fine-tuned from its GIN vs from a random GIN, all and 10 % of the labels."""
    ten = entry.get("semi", {}).get("10", {})
    full = {"pretrained": entry["finetune_top1"], "scratch": entry["scratch"]["finetune_top1"]}
    full["gain"] = _gain(full["pretrained"], full["scratch"])
    tenth = {"pretrained": ten.get("pretrained", {}).get("mean"), "scratch": ten.get("scratch", {}).get("mean")}
    tenth["gain"] = _gain(tenth["pretrained"], tenth["scratch"])
    gains = [g for g in (full["gain"], tenth["gain"]) if g is not None]
    return {
        "description": "STRL (3 layers of two GINs, one per person) fine-tuned from the SkeletonMAE GIN weights vs "
        "the same STRL from a random GIN (skelrec evaluate finetune/semi; --init random for the control)",
        "full_labels": full,
        "labels_10": tenth,
        "helps": None if len(gains) < 2 else all(g > 0 for g in gains),
    }


def method_entry(s: Settings, method: str) -> dict:
    run = s.runs / method
    protocols = {p: protocol_entry(s, method, p) for p in s.protocols}
    primary = protocols.get(PRIMARY) or next(iter(protocols.values()))
    keys = ("linear_top1", "linear_top1_std", "linear_joints_top1", "linear_joints_top1_std", "knn_top1")
    entry = {key: primary[key] for key in (*keys, "knn_top1_std", "finetune_top1")}
    entry |= {"semi": primary.get("semi", {}), "random_init": primary["random_init"], "scratch": primary["scratch"]}
    entry["protocols"] = protocols
    entry["epochs"] = epochs_done(run)
    entry["samples_per_s"] = throughput(run)
    rss, wall, command = (run / name for name in ("peak_rss_mb.txt", "wall_seconds.txt", "command.txt"))
    entry["peak_rss_mb"] = int(rss.read_text()) if rss.exists() else None
    entry["pretrain_wall_seconds"] = float(wall.read_text()) if wall.exists() else None
    entry["command"] = command.read_text().strip() if command.exists() else shlex.join(pretrain_command(method, s))
    stats = run / STATISTICS
    if stats.exists():
        entry["input_statistics"] = json.loads(stats.read_text())
    if method == PAPER_METHOD:
        entry["paper_protocol"] = paper_protocol(primary)
    return entry


def report(s: Settings, methods: Sequence[str] = METHODS) -> dict:
    entries = {method: method_entry(s, method) for method in methods}
    result = {
        "benchmark": "ssl_pku",
        "command": shlex.join(["python", "benchmarks/ssl_pku.py", "all", *s.extra]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "pretraining_data": "caches/pku_mmd_streams: 120-frame crops every 60 frames over the PKU-MMD phase-1 "
        "streams of the cross-subject training list (both persons, ntu25)",
        "evaluation": {
            "data": "caches/pku_mmd (trimmed instances [start, end), both persons, ntu25)",
            "classes": list(INTERACTIONS),
            "labels": list(INTERACTION_LABELS),
            "protocols": list(s.protocols),
            "primary_protocol": PRIMARY,
            "seeds": list(s.seeds),
            "finetune_epochs": s.finetune_epochs,
            "semi": {"fractions": list(s.semi_fractions), "seeds": list(s.semi_seeds), "epochs": s.semi_epochs},
        },
        "methods": entries,
    }
    atomic_write_text(s.result, json.dumps(result, indent=2) + "\n")
    print(table(result))
    return result


def table(result: dict) -> str:
    """The Markdown table of a result (primary protocol; controls after the slash)."""

    def pair(a: object, b: object) -> str:
        return f"{a} / {b}"

    lines = [
        "| method | linear / random | per-joint linear / random | kNN / random | finetune / scratch "
        "| 1 %: pre / scratch | 10 %: pre / scratch | epochs | samples/s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in result["methods"].items():
        semi = {k: pair(v["pretrained"]["mean"], v["scratch"]["mean"]) for k, v in e.get("semi", {}).items()}
        lines.append(
            f"| {name} | {pair(e['linear_top1'], e['random_init']['linear_top1'])} "
            f"| {pair(e.get('linear_joints_top1'), e['random_init'].get('linear_joints_top1'))} "
            f"| {pair(e['knn_top1'], e['random_init']['knn_top1'])} "
            f"| {pair(e['finetune_top1'], e['scratch']['finetune_top1'])} | {semi.get('1', '–')} "
            f"| {semi.get('10', '–')} | {e['epochs']} | {e['samples_per_s']} | {e['peak_rss_mb']} |"
        )
    return "\n".join(lines)


def settings_from(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    s = Settings()
    if args.runs:
        s.runs = Path(args.runs).resolve()
    if args.result:
        s.result = Path(args.result).resolve()
    if args.eval_data:
        s.eval_data = Path(args.eval_data).resolve()
    if args.caches:
        s.caches = Path(args.caches).resolve()
    if args.protocols:
        s.protocols = tuple(args.protocols)
    for key in ("seeds", "semi_fractions", "semi_seeds"):
        if getattr(args, key):
            setattr(s, key, tuple(getattr(args, key)))
    for key in ("finetune_epochs", "semi_epochs", "max_steps"):
        if getattr(args, key) is not None:
            setattr(s, key, getattr(args, key))
    first_option = next((i for i, a in enumerate(argv) if a.startswith("--")), len(argv))
    s.extra = list(argv[first_option:])
    return s


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["prepare", "pretrain", "evaluate", "report", "all"])
    parser.add_argument("names", nargs="*", help=f"methods (default: all five: {', '.join(METHODS)})")
    parser.add_argument("--runs", help="run folder (default: runs/ssl_pku)")
    parser.add_argument("--result", help="result file (default: benchmarks/results/ssl_pku.json)")
    parser.add_argument("--caches", help="folder of the prepared caches (default: caches)")
    parser.add_argument("--eval-data", help="the trimmed-instance cache evaluated on (default: caches/pku_mmd)")
    parser.add_argument("--protocols", nargs="+", choices=PROTOCOLS, help="default: xsub xview")
    parser.add_argument("--seeds", nargs="+", type=int, help="linear probe and kNN seeds (default: 0 1 2)")
    parser.add_argument("--semi-fractions", nargs="+", type=float, help="label fractions (default: 0.01 0.1)")
    parser.add_argument("--semi-seeds", nargs="+", type=int, help="semi-supervised seeds (default: 0 1 2)")
    parser.add_argument("--finetune-epochs", type=int, help="full-label fine-tuning epochs (default: 30)")
    parser.add_argument("--semi-epochs", type=int, help="semi-supervised fine-tuning epochs (default: 100)")
    parser.add_argument("--max-steps", type=int, help="stop every training run after this many steps (smoke runs)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in METHODS]
    if unknown:
        parser.error(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    s = settings_from(args, argv)
    names = args.names or list(METHODS)
    if args.stage in ("prepare", "all"):
        prepare(s)
    if args.stage in ("pretrain", "all"):
        for name in names:
            pretrain(name, s)
    if args.stage in ("evaluate", "all"):
        for name in names:
            evaluate(name, s)
    if args.stage in ("report", "all"):
        report(s, names)


if __name__ == "__main__":
    main()
