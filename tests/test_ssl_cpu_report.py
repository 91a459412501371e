"""benchmarks/ssl_cpu.py's report: every method is judged against two random-init controls — its own encoder config
with random weights and the shared transformer control — and meets the target only with 10 points over both."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def ssl_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("ssl_cpu_bench", ROOT / "benchmarks" / "ssl_cpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(module, "RESULT", tmp_path / "ssl_cpu.json")
    return module


def _write(path: Path, top1: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": {"top1": top1}}))


def test_margins_use_the_methods_own_random_encoder_and_the_shared_control(ssl_cpu) -> None:
    runs = ssl_cpu.RUNS
    _write(runs / "random_init" / "linear.json", 55.0)
    _write(runs / "halp" / "linear.json", 66.0)
    _write(runs / "halp" / "random_linear.json", 50.0)
    _write(runs / "halp" / "random_knn.json", 40.0)
    _write(runs / "macdiff" / "linear.json", 70.0)
    _write(runs / "macdiff" / "random_linear.json", 61.0)

    ssl_cpu.report()
    methods = json.loads(ssl_cpu.RESULT.read_text())["methods"]

    halp = methods["halp"]
    assert halp["random_init_own_encoder"]["linear_top1"] == 50.0
    assert halp["random_init_own_encoder"]["knn_top1"] == 40.0
    assert halp["linear_margin"] == {"own_encoder": 16.0, "random_init": 11.0}
    assert halp["meets_target"] is True
    # 15 over the shared control is not enough when the method's own random encoder is within 10 points
    assert methods["macdiff"]["linear_margin"] == {"own_encoder": 9.0, "random_init": 15.0}
    assert methods["macdiff"]["meets_target"] is False
    # no own control measured: undecided, not passed
    assert methods["mamp"]["meets_target"] is None
    assert "random_init_own_encoder" not in methods["random_init"]


def test_probes_are_averaged_over_the_seeds_measured(ssl_cpu) -> None:
    runs = ssl_cpu.RUNS
    for name, values in {"linear": (60.0, 64.0, 65.0), "random_linear": (50.0, 54.0)}.items():
        for seed, top1 in zip(ssl_cpu.EVAL_SEEDS, values, strict=False):  # two seeds of three for the control
            _write(ssl_cpu._probe_file(runs / "mamp", name, seed), top1)
    _write(runs / "random_init" / "linear.json", 52.0)

    ssl_cpu.report()
    mamp = json.loads(ssl_cpu.RESULT.read_text())["methods"]["mamp"]

    assert mamp["linear_top1"] == 63.0
    assert mamp["linear_top1_std"] == pytest.approx(2.16, abs=0.01)
    assert mamp["seeds"]["linear"] == [60.0, 64.0, 65.0]
    assert mamp["random_init_own_encoder"]["linear_top1"] == 52.0
    assert mamp["linear_margin"] == {"own_encoder": 11.0, "random_init": 11.0}
    assert mamp["meets_target"] is True


def test_evaluate_probes_each_method_and_its_random_twin(ssl_cpu, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(ssl_cpu, "skelrec", lambda *args: calls.append(args))
    monkeypatch.setattr(ssl_cpu, "EVAL_SEEDS", (0, 1))

    ssl_cpu.evaluate("skeletonmae")

    outs = [Path(call[call.index("--out") + 1]).name for call in calls]
    assert outs == [
        "linear.json",
        "linear_seed1.json",
        "knn.json",
        "knn_seed1.json",
        "random_linear.json",
        "random_linear_seed1.json",
        "random_knn.json",
        "random_knn_seed1.json",
        "supervised_probe_feature.json",
    ]
    assert ["--init" in call for call in calls] == [False] * 4 + [True] * 5
    assert [call[call.index("--seed") + 1] for call in calls[:8]] == ["0", "1"] * 4
    assert all(str(ssl_cpu.RUNS / "skeletonmae" / "encoder") in call for call in calls)
    # the supervised reference: the encoder config trained with labels through the linear probe's own feature
    supervised = calls[-1]
    assert supervised[:2] == ("evaluate", "finetune")
    assert supervised[supervised.index("--head") + 1] == "linear"
    assert supervised[supervised.index("--pooling") + 1] == "mean" and "--no-downstream" in supervised


def test_evaluate_keeps_results_newer_than_the_encoder(ssl_cpu, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(ssl_cpu, "skelrec", lambda *args: calls.append(args))
    monkeypatch.setattr(ssl_cpu, "EVAL_SEEDS", (0,))
    encoder = ssl_cpu.RUNS / "halp" / "encoder"
    encoder.mkdir(parents=True)
    (encoder / "model.safetensors").write_bytes(b"old")
    _write(ssl_cpu.RUNS / "halp" / "linear.json", 60.0)  # measured after the encoder was written
    stale = ssl_cpu.RUNS / "halp" / "knn.json"
    _write(stale, 50.0)
    os.utime(stale, (0, 0))  # older than the encoder: measured on an earlier pretraining

    ssl_cpu.evaluate("halp")

    outs = [Path(call[call.index("--out") + 1]).name for call in calls]
    assert outs == ["knn.json", "random_linear.json", "random_knn.json", "supervised_probe_feature.json"]


def test_the_linear_probe_is_compared_with_its_encoder_trained_with_labels(ssl_cpu) -> None:
    runs = ssl_cpu.RUNS
    _write(runs / "random_init" / "linear.json", 54.0)
    for method, linear, supervised in (("skeletonmae", 56.0, 63.0), ("macdiff", 69.0, 62.5)):
        _write(runs / method / "linear.json", linear)
        _write(runs / method / "supervised_probe_feature.json", supervised)

    ssl_cpu.report()
    methods = json.loads(ssl_cpu.RESULT.read_text())["methods"]

    assert methods["skeletonmae"]["supervised_probe_feature"]["linear_top1"] == 63.0
    assert "--pooling mean" in methods["skeletonmae"]["supervised_probe_feature"]["command"]
    assert methods["skeletonmae"]["linear_over_supervised"] == -7.0  # frozen pretrained features below labels
    assert methods["macdiff"]["linear_over_supervised"] == 6.5  # pretraining on unlabelled clips beats the labels
    assert methods["mamp"]["linear_over_supervised"] is None  # nothing measured


def test_a_run_of_some_methods_borrows_the_shared_control_of_another_length(ssl_cpu, monkeypatch) -> None:
    base = ssl_cpu.RUNS.parent
    monkeypatch.setattr(ssl_cpu, "RUNS", base / "ssl_cpu_e200")
    _write(base / "ssl_cpu_e100" / "random_init" / "linear.json", 54.0)
    _write(ssl_cpu.RUNS / "macdiff" / "linear.json", 66.0)
    _write(ssl_cpu.RUNS / "macdiff" / "random_linear.json", 54.0)

    ssl_cpu.report()
    methods = json.loads(ssl_cpu.RESULT.read_text())["methods"]

    assert methods["random_init"]["linear_top1"] == 54.0
    assert methods["random_init"]["measured_in"] == "runs/ssl_cpu_e100/random_init"
    assert methods["macdiff"]["linear_margin"] == {"own_encoder": 12.0, "random_init": 12.0}
    assert methods["macdiff"]["meets_target"] is True


def test_epochs_flag_stretches_each_config_from_its_own_length(ssl_cpu) -> None:
    from skelrec.config import load_config

    configs = ROOT / "pretrain" / "configs"
    for method in ssl_cpu.METHODS:
        assert ssl_cpu.epoch_overrides(method, None) == []  # default: every config's own length
    halp = load_config(configs / "halp" / "cpu_small.yaml")
    steps_per_epoch = halp.method.kwargs["halp_start_step"] / (halp.optim.epochs / 2)  # MoCo for the first half
    assert ssl_cpu.epoch_overrides("halp", 40) == [
        "optim.epochs=40",
        "optim.warmup_epochs=0",
        f"method.kwargs.halp_start_step={round(20 * steps_per_epoch)}",
    ]
    s2v = load_config(configs / "skeleton2vec" / "cpu_small.yaml")
    assert s2v.method.kwargs["ema_anneal_steps"] == s2v.optim.epochs * 70  # the teacher anneals over the whole run
    assert "method.kwargs.ema_anneal_steps=14000" in ssl_cpu.epoch_overrides("skeleton2vec", 2 * s2v.optim.epochs)
    macdiff = load_config(configs / "macdiff" / "cpu_small.yaml")
    scaled = ssl_cpu.epoch_overrides("macdiff", macdiff.optim.epochs // 2)
    assert scaled == [
        f"optim.epochs={macdiff.optim.epochs // 2}",
        f"optim.warmup_epochs={macdiff.optim.warmup_epochs / 2:g}",
    ]


def test_pretraining_wall_time_adds_up_resumed_parts_and_ignores_a_finished_run(ssl_cpu, monkeypatch) -> None:
    run = ssl_cpu.RUNS / "halp"
    run.mkdir(parents=True)
    steps: list[int] = [100, 200]  # the step each invocation ends at; a third one finds the run complete

    def train(*args: str) -> None:
        step = steps.pop(0) if steps else 200
        (run / "metrics.csv").write_text(f"step,epoch,samples_per_s\n{step},{step / 10},300\n")

    clock = iter([0.0, 60.0, 1000.0, 1030.0, 5000.0, 5004.0])
    monkeypatch.setattr(ssl_cpu, "skelrec", train)
    monkeypatch.setattr(ssl_cpu, "time", SimpleNamespace(time=lambda: next(clock)))

    ssl_cpu.pretrain("halp")  # steps 0 -> 100 in 60 s
    assert (run / "wall_seconds.txt").read_text() == "60.0\n"
    ssl_cpu.pretrain("halp")  # resumed: 100 -> 200 in 30 s more
    assert (run / "wall_seconds.txt").read_text() == "90.0\n"
    ssl_cpu.pretrain("halp")  # complete already: 4 s of loading are not the pretraining time
    assert (run / "wall_seconds.txt").read_text() == "90.0\n"


def test_added_pku_streams_get_their_own_run_and_data_and_stretch_step_schedules(ssl_cpu, monkeypatch) -> None:
    from skelrec.errors import SkelrecError

    ssl_cpu.use_epochs(None, 0.25)
    assert (ssl_cpu.RUNS.name, ssl_cpu.RESULT.name) == ("ssl_cpu_pku25", "ssl_cpu_pku25.json")
    paths = ssl_cpu.data_overrides("halp")[0]
    assert paths.startswith("data.paths=[caches/nw_ucla#xsub:train,") and paths.endswith(
        ",caches/msr_daily,caches/pku_mmd_streams_added_25]"
    )
    counts = {False: 2000, True: 3000}  # clips without / with the added streams
    monkeypatch.setattr(ssl_cpu, "_clip_count", lambda method, overrides: counts[bool(overrides)])
    assert ssl_cpu.epoch_overrides("halp", None) == ["method.kwargs.halp_start_step=5250"]  # 3,500 x 1.5
    assert ssl_cpu.epoch_overrides("mamp", None) == []
    ssl_cpu.use_epochs(200, 1.0)
    assert ssl_cpu.RUNS.name == "ssl_cpu_e200_pku100"
    assert ssl_cpu.epoch_overrides("skeleton2vec", 200)[-1] == "method.kwargs.ema_anneal_steps=21000"  # 7,000 x 2 x 1.5
    ssl_cpu.use_epochs(None, 0.0)
    assert (ssl_cpu.RUNS.name, ssl_cpu.data_overrides("halp")) == ("ssl_cpu", [])
    with pytest.raises(SkelrecError, match=r"choose one of: 0, 0\.25, 1"):
        ssl_cpu.use_epochs(None, 0.5)
