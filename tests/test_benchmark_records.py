"""The benchmarks' shared records: ``benchmarks/machine.py`` (the machine a result is measured on) and
``benchmarks/run_records.py`` (what training and evaluation runs leave in their folders)."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

from benchmarks import run_records
from benchmarks.machine import cpu_model, machine

KEYS = {"cpu", "cores", "platform", "python", "torch", "torch_threads", "cuda", "load_average"}


def test_the_cpu_model_is_read_from_cpuinfo_else_from_platform(tmp_path: Path, monkeypatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU @ 2.0GHz\nflags\t: sse\n")
    assert cpu_model(cpuinfo) == "Test CPU @ 2.0GHz"
    monkeypatch.setattr("platform.processor", lambda: "")
    monkeypatch.setattr("platform.machine", lambda: "riscv64")
    assert cpu_model(tmp_path / "absent") == "riscv64"
    cpuinfo.write_text("processor\t: 0\n")  # no model name line (some ARM kernels)
    assert cpu_model(cpuinfo) == "riscv64"


def test_the_machine_record_has_the_union_of_keys_and_mediapipe_only_when_asked(monkeypatch) -> None:
    record = machine()
    assert set(record) == KEYS
    assert record["cores"] == os.cpu_count() and len(record["load_average"]) == 3
    json.dumps(record)  # goes into the results files as it is
    monkeypatch.setitem(sys.modules, "mediapipe", types.SimpleNamespace(__version__="9.9.9"))
    with_mp = machine(mediapipe=True)
    assert set(with_mp) == KEYS | {"mediapipe", "numpy"} and with_mp["mediapipe"] == "9.9.9"


def _metrics_csv(run: Path, rows: list[tuple[int, float, float]]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    lines = ["step,epoch,samples_per_s", *(f"{s},{e},{r}" for s, e, r in rows)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_training_runs_are_read_from_metrics_csv(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert (run_records.last_step(run), run_records.epochs_done(run), run_records.throughput(run)) == (0, None, None)
    _metrics_csv(run, [(10, 0.5, 100.0), (20, 1.0, 111.0)])
    assert len(run_records.metric_rows(run)) == 2
    assert run_records.last_step(run) == 20
    assert run_records.epochs_done(run) == 1.0
    assert run_records.throughput(run) == 105.5


def test_evaluation_metrics_and_their_freshness(tmp_path: Path) -> None:
    result, checkpoint = tmp_path / "linear.json", tmp_path / "encoder"
    assert run_records.metric(result) is None and run_records.result_metrics(result) == {}
    assert not run_records.fresh(result, checkpoint)
    result.write_text(json.dumps({"metrics": {"top1": 61.5, "1%": {"top1_mean": 30.0}}}))
    assert run_records.metric(result) == 61.5 and run_records.metric(result, "top5") is None
    assert run_records.result_metrics(result)["1%"] == {"top1_mean": 30.0}
    assert not run_records.fresh(result, checkpoint)  # no checkpoint to compare with
    checkpoint.mkdir()
    (checkpoint / "model.safetensors").write_bytes(b"")
    os.utime(result, (1_000, 1_000))
    os.utime(checkpoint / "model.safetensors", (2_000, 2_000))
    assert not run_records.fresh(result, checkpoint)  # measured before the encoder was written
    os.utime(result, (3_000, 3_000))
    assert run_records.fresh(result, checkpoint)
