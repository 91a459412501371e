"""benchmarks/ssl_pku.py: the report of the PKU-MMD interaction benchmark, on synthetic result files (every number is
judged against the same architecture without pretraining; SkeletonMAE by its paper's STRL protocol), the commands it
runs, and MacDiff's streamed input statistics."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

from benchmarks.shared_data import clip_statistics
from skelrec.errors import SkelrecError
from skelrec.ssl.macdiff import input_statistics


@pytest.fixture
def bench():
    return importlib.import_module("benchmarks.ssl_pku")


@pytest.fixture
def settings(bench, tmp_path: Path):
    return bench.Settings(runs=tmp_path / "runs", result=tmp_path / "ssl_pku.json", caches=tmp_path / "caches")


def _write(path: Path, metrics: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics}))


def _semi(one: tuple[float, float], ten: tuple[float, float]) -> dict:
    return {
        "1%": {"top1_mean": one[0], "top1_std": one[1], "runs": 3},
        "10%": {"top1_mean": ten[0], "top1_std": ten[1], "runs": 3},
    }


def _fill(bench, s, method: str, protocol: str, base: float) -> None:
    """Result files of every probe of ``method``: pretrained numbers ``base + k``, controls ``base``."""
    for seed, delta in zip(s.seeds, (-1.0, 0.0, 1.0), strict=True):
        _write(bench.eval_file(s, method, protocol, "linear", seed), {"top1": base + 10 + delta})
        _write(bench.eval_file(s, method, protocol, "knn", seed), {"top1": base + 5})
        _write(bench.eval_file(s, method, protocol, "random_linear", seed), {"top1": base})
        _write(bench.eval_file(s, method, protocol, "random_knn", seed), {"top1": base - 5})
        _write(bench.eval_file(s, method, protocol, "linear_joints", seed), {"top1": base + 14})
        _write(bench.eval_file(s, method, protocol, "random_linear_joints", seed), {"top1": base + 12})
    _write(bench.eval_file(s, method, protocol, "finetune"), {"top1": base + 20})
    _write(bench.eval_file(s, method, protocol, "random_finetune"), {"top1": base + 15})
    _write(bench.eval_file(s, method, protocol, "semi"), _semi((base, 2.0), (base + 12, 1.5)))
    _write(bench.eval_file(s, method, protocol, "random_semi"), _semi((base - 4, 3.0), (base + 4, 2.5)))


def test_report_gives_each_number_beside_its_control_and_the_requested_keys(bench, settings) -> None:
    _fill(bench, settings, "mamp", "xsub", 60.0)
    _fill(bench, settings, "mamp", "xview", 70.0)
    run = settings.runs / "mamp"
    (run / "metrics.csv").write_text("step,epoch,loss,samples_per_s\n10,1.0,2.0,100\n20,2.0,1.5,120\n")
    (run / "peak_rss_mb.txt").write_text("812\n")
    (run / "command.txt").write_text("skelrec pretrain pretrain/configs/mamp/pku_cpu.yaml\n")
    result = bench.report(settings, ["mamp"])
    saved = json.loads(settings.result.read_text())
    assert saved == result and saved["evaluation"]["labels"] == [12, 14, 16, 18, 21, 24, 26, 27]
    assert saved["evaluation"]["classes"][0] == "giving something to other person"
    assert saved["evaluation"]["classes"][-1] == "pushing other person"
    e = saved["methods"]["mamp"]
    assert (e["linear_top1"], e["linear_top1_std"], e["knn_top1"], e["finetune_top1"]) == (70.0, 0.82, 65.0, 80.0)
    assert (e["linear_joints_top1"], e["linear_joints_top1_std"]) == (74.0, 0.0)
    assert e["random_init"] == {"linear_top1": 60.0, "linear_joints_top1": 72.0, "knn_top1": 55.0}
    assert e["scratch"] == {"finetune_top1": 75.0}
    assert e["semi"]["1"] == {
        "pretrained": {"mean": 60.0, "std": 2.0, "runs": 3},
        "scratch": {"mean": 56.0, "std": 3.0, "runs": 3},
        "gain": 4.0,
    }
    assert e["semi"]["10"]["gain"] == 8.0
    assert (e["epochs"], e["samples_per_s"], e["peak_rss_mb"]) == (2.0, 110.0, 812)
    assert e["command"] == "skelrec pretrain pretrain/configs/mamp/pku_cpu.yaml"
    xview = e["protocols"]["xview"]
    assert xview["linear_top1"] == 80.0 and "semi" not in xview  # semi-supervised: the primary protocol only
    assert e["protocols"]["xsub"]["gains"] == {
        "linear_over_random": 10.0,
        "knn_over_random": 10.0,
        "finetune_over_scratch": 5.0,
        "linear_under_scratch": 5.0,
        "linear_joints_over_random": 2.0,
        "linear_joints_under_scratch": 1.0,
    }
    assert "| mamp | 70.0 / 60.0 | 74.0 / 72.0 | 65.0 / 55.0 | 80.0 / 75.0 |" in bench.table(saved)
    assert "paper_protocol" not in e


def test_missing_results_are_none_not_zero(bench, settings) -> None:
    _write(bench.eval_file(settings, "halp", "xsub", "linear", 0), {"top1": 50.0})
    e = bench.report(settings, ["halp"])["methods"]["halp"]
    assert e["linear_top1"] == 50.0 and e["linear_top1_std"] == 0.0 and e["knn_top1"] is None
    assert e["linear_joints_top1"] is None and e["random_init"]["linear_joints_top1"] is None
    assert e["finetune_top1"] is None and e["semi"]["10"] == {
        "pretrained": {"mean": None, "std": None, "runs": None},
        "scratch": {"mean": None, "std": None, "runs": None},
        "gain": None,
    }
    assert e["epochs"] is None and e["peak_rss_mb"] is None
    assert e["command"].startswith("pretrain pretrain/configs/halp/pku_cpu.yaml")  # what pretrain would run


@pytest.mark.parametrize(("scratch_full", "scratch_ten", "helps"), [(75.0, 60.0, True), (85.0, 60.0, False)])
def test_skeletonmae_is_judged_by_strl_from_its_gin_against_strl_from_a_random_gin(
    bench, settings, scratch_full, scratch_ten, helps
) -> None:
    _fill(bench, settings, "skeletonmae", "xsub", 60.0)
    _write(bench.eval_file(settings, "skeletonmae", "xsub", "random_finetune"), {"top1": scratch_full})
    _write(bench.eval_file(settings, "skeletonmae", "xsub", "random_semi"), _semi((50.0, 1.0), (scratch_ten, 1.0)))
    paper = bench.report(settings, ["skeletonmae"])["methods"]["skeletonmae"]["paper_protocol"]
    assert paper["full_labels"] == {"pretrained": 80.0, "scratch": scratch_full, "gain": round(80.0 - scratch_full, 2)}
    assert paper["labels_10"] == {"pretrained": 72.0, "scratch": scratch_ten, "gain": 12.0}
    assert paper["helps"] is helps and "STRL" in paper["description"]


def test_evaluate_restricts_every_probe_to_the_interactions_and_pairs_it_with_its_control(
    bench, settings, monkeypatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(bench, "measured_run", lambda cmd: calls.append(cmd) or 0)
    settings.protocols, settings.seeds, settings.semi_seeds = ("xsub",), (0,), (0, 1)
    bench.evaluate("skeletonmae", settings)
    probes = [(c[c.index("evaluate") + 1], c[c.index("--init") + 1]) for c in calls]
    assert sorted(probes) == sorted(
        (p, i) for p in ("linear", "linear", "knn", "finetune", "semi") for i in ("pretrained", "random")
    )
    poolings = [c[c.index("--pooling") + 1] for c in calls if "--pooling" in c]
    assert poolings == ["joints", "joints"]  # the per-joint probe (MacDiff's linprobe2), pretrained and random
    for cmd in calls:
        kept = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--classes"]
        assert kept == list(bench.INTERACTIONS) and len(kept) == 8
        assert cmd[cmd.index("--protocol") + 1] == "xsub"
    semi = next(c for c in calls if "semi" in c)
    assert [semi[i + 1] for i, a in enumerate(semi) if a == "--fraction"] == ["0.01", "0.1"]
    assert [semi[i + 1] for i, a in enumerate(semi) if a == "--seed"] == ["0", "1"]


def test_macdiff_pretraining_takes_the_measured_statistics(bench, settings) -> None:
    assert not any("input_mean" in a for a in bench.pretrain_command("macdiff", settings))
    stats = settings.runs / "macdiff" / bench.STATISTICS
    stats.parent.mkdir(parents=True)
    stats.write_text(json.dumps({"input_mean": [0.1, -0.2, 0.0], "input_var": [1.5, 0.6, 0.5]}))
    args = bench.pretrain_command("macdiff", settings)
    assert "method.kwargs.input_mean=[0.1000,-0.2000,0.0000]" in args
    assert "method.kwargs.input_var=[1.5000,0.6000,0.5000]" in args
    assert not any("input_mean" in a for a in bench.pretrain_command("mamp", settings))


@pytest.mark.parametrize("one_person", [True, False])
def test_streamed_clip_statistics_equal_those_of_the_stacked_clips(one_person) -> None:
    generator = torch.Generator().manual_seed(0)
    clips = [
        {"x": torch.randn(2, 6, 5, 3, generator=generator) * 2 + 1, "mask": torch.rand(2, 6, generator=generator) > 0.3}
        for _ in range(7)
    ]
    mean, var = clip_statistics(clips, one_person=one_person)
    stacked = input_statistics(
        torch.stack([c["x"] for c in clips]), torch.stack([c["mask"] for c in clips]), one_person=one_person
    )
    assert mean == pytest.approx(stacked[0], abs=1e-9) and var == pytest.approx(stacked[1], rel=1e-9)
    with pytest.raises(SkelrecError, match="fewer than two joint positions"):
        clip_statistics([{"x": torch.zeros(1, 2, 5, 3), "mask": torch.zeros(1, 2, dtype=torch.bool)}])


def _encoder(settings, method: str, depth: int) -> None:
    folder = settings.runs / method / "encoder"
    folder.mkdir(parents=True)
    config = {"encoder": {"name": "transformer", "config": {"depth": depth}}, "layout": "ntu25", "clip_length": 32}
    (folder / "config.json").write_text(json.dumps({**config, "method": {"name": method}, "data": {"paths": [method]}}))


def test_a_random_init_control_is_measured_once_for_encoders_of_the_same_architecture(
    bench, settings, monkeypatch
) -> None:
    calls: list[list[str]] = []

    def measured(cmd: list[str]) -> int:
        calls.append(cmd)
        _write(Path(cmd[cmd.index("--out") + 1]), {"top1": 50.0 + len(calls)})
        return 0

    monkeypatch.setattr(bench, "measured_run", measured)
    settings.protocols, settings.seeds, settings.semi_seeds = ("xsub",), (0,), (0,)
    _encoder(settings, "mamp", 4)
    _encoder(settings, "macdiff", 4)  # the same transformer, another method
    _encoder(settings, "skeleton2vec", 2)
    bench.evaluate("mamp", settings)
    assert len(calls) == 10  # linear, joint linear, kNN, fine-tune, semi; pretrained and random
    bench.evaluate("macdiff", settings)
    inits = [c[c.index("--init") + 1] for c in calls[10:]]
    assert inits == ["pretrained"] * 5  # its controls are MAMP's
    copied = json.loads(bench.eval_file(settings, "macdiff", "xsub", "random_knn", 0).read_text())
    original = json.loads(bench.eval_file(settings, "mamp", "xsub", "random_knn", 0).read_text())
    assert copied["metrics"] == original["metrics"]
    assert copied["shared_control"] == "mamp/eval/xsub/random_knn_seed0.json"
    bench.evaluate("skeleton2vec", settings)
    assert [c[c.index("--init") + 1] for c in calls[15:]].count("random") == 5  # another architecture: its own
