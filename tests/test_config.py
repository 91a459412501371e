"""Typed training configs (skelrec.config): YAML + _base_ + overrides, validation errors, resolved round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from skelrec.config import (
    DataConfig,
    OptimConfig,
    TrainConfig,
    config_diff,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
    save_config,
    section_from_dict,
)
from skelrec.errors import SkelrecError

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "pretrain" / "configs" / "test" / "tiny.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_repository_configs_load():
    cfg = load_config(TINY)
    assert cfg.data.clip_length == 16 and cfg.data.augment.crop_min_frames == 8
    assert cfg.data.augment.rotate == 0.3  # from _base_/data_mamp.yaml
    assert cfg.optim.betas == (0.9, 0.95) and cfg.optim.min_lr == 5e-4  # from _base_/optim_mamp.yaml
    assert cfg.encoder.kwargs == {"depth": 1, "embed_dim": 16, "num_heads": 2, "patch_frames": 4}
    for base in (ROOT / "pretrain" / "configs" / "_base_").glob("*.yaml"):
        load_config(base)
    assert load_config(ROOT / "pretrain/configs/_base_/optim_macdiff.yaml").optim.min_lr == 1e-5


def test_base_inheritance_merges_key_by_key(tmp_path):
    write(
        tmp_path / "bases/a.yaml",
        "optim: {lr: 0.002, min_lr: 0.0001, epochs: 10, warmup_epochs: 1}\nencoder: {kwargs: {depth: 2}}\n",
    )
    write(tmp_path / "bases/b.yaml", "_base_: a.yaml\noptim: {epochs: 20, warmup_epochs: 2}\n")
    child = write(
        tmp_path / "child.yaml",
        "_base_: [bases/b.yaml]\noptim: {epochs: 30}\nencoder: {kwargs: {embed_dim: 32}}\n",
    )
    cfg = load_config(child)
    assert (cfg.optim.lr, cfg.optim.min_lr, cfg.optim.epochs, cfg.optim.warmup_epochs) == (0.002, 0.0001, 30, 2.0)
    assert cfg.encoder.kwargs == {"depth": 2, "embed_dim": 32}
    assert cfg.optim.batch_size == OptimConfig().batch_size  # untouched keys keep the dataclass defaults
    replaced = write(tmp_path / "r.yaml", "_base_: bases/a.yaml\nencoder: {_replace_: true, name: gin}\n")
    assert load_config(replaced).encoder.kwargs == {}


def test_partial_nested_section_keeps_its_field_defaults(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "data: {normalization: {align: true}, augment: {rotate: 0.1}}\n"))
    assert cfg.data.normalization.center == "sequence" and cfg.data.normalization.scale == "none"
    assert cfg.data.normalization.align is True
    assert cfg.data.augment.rotate == 0.1 and cfg.data.augment.crop == (0.5, 1.0)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("optim.lr=1e-3", ["optim", "lr"], 1e-3),  # a float, as in JSON (YAML 1.1 would read the text '1e-3')
        ("optim.epochs=12", ["optim", "epochs"], 12),
        ("run.tensorboard=true", ["run", "tensorboard"], True),
        ("data.paths=[a, b/c]", ["data", "paths"], ["a", "b/c"]),
        ("data.protocol=null", ["data", "protocol"], None),
        ("encoder.kwargs.depth=3", ["encoder", "kwargs", "depth"], 3),
    ],
)
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


def test_overrides_are_typed_and_applied():
    cfg = load_config(
        TINY,
        [
            "optim.lr=1e-3",
            "optim.min_lr=1e-5",
            "optim.betas=[0.8, 0.9]",
            "run.tensorboard=true",
            "run.max_steps=7",
            "data.paths=one/cache",
            "data.protocol=xsub",
            "encoder.kwargs.depth=3",
            "method.kwargs={mask_ratio: 0.75}",
        ],
    )
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float) and cfg.optim.min_lr == 1e-5
    assert cfg.optim.betas == (0.8, 0.9)
    assert cfg.run.tensorboard is True and cfg.run.max_steps == 7
    assert cfg.data.paths == ["one/cache"] and cfg.data.protocol == "xsub"
    assert cfg.encoder.kwargs["depth"] == 3 and cfg.encoder.kwargs["embed_dim"] == 16
    assert cfg.method.kwargs == {"mask_ratio": 0.75}
    assert load_config(TINY, ["encoder.kwargs={}"]).encoder.kwargs == {}  # a mapping on the command line replaces


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optim.lrr=1", r"command-line override 'optim\.lrr=1': unknown key optim\.lrr; optim has: batch_size"),
        ("optim.lr=fast", r"override 'optim\.lr=fast': optim\.lr must be float, got 'fast'"),
        ("run.device=tpu", r"run\.device must be one of auto, cpu, cuda"),
        ("optim.epochs=2.5", r"optim\.epochs must be int"),
        ("optim.min_lr=1", r"'optim\.min_lr=1': optim\.min_lr: must be in \[0, lr="),
        ("data.augment.crop=[0.9, 0.5]", r"data\.augment\.crop: must be \[min, max\]"),
        ("run.seed.x=1", r"run\.seed has no sub-keys"),
        ("optim.lr", r"expected key\.sub=value"),
        ("data.normalization.center=middle", r"data\.normalization\.center must be one of sequence, frame, none"),
        ("data.normalization.frames=64", r"set data\.clip_length and data\.persons instead"),
        ("data.layout=ntu99", r"data\.layout: must be one of .*ntu25"),
    ],
)
def test_override_errors_name_the_override_and_key(text, message):
    with pytest.raises(SkelrecError, match=message):
        load_config(TINY, [text])


def test_file_errors_name_the_file_and_key(tmp_path):
    base = write(tmp_path / "base.yaml", "optim: {batch_size: -4}\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\nrun: {seed: 1}\n")
    with pytest.raises(SkelrecError, match=rf"^{base}: optim\.batch_size: must be >= 1$"):
        load_config(child)  # the bad value came from the base file, which the message names
    bad_key = write(tmp_path / "k.yaml", "data:\n  clip_lenght: 12\n")
    with pytest.raises(SkelrecError, match=rf"^{bad_key}: unknown key data\.clip_lenght; DataConfig has: paths,"):
        load_config(bad_key)
    bad_type = write(tmp_path / "t.yaml", "run: {progress: maybe}\n")
    with pytest.raises(SkelrecError, match=rf"^{bad_type}: run\.progress must be bool, got 'maybe'$"):
        load_config(bad_type)
    bad_yaml = write(tmp_path / "y.yaml", "optim:\n  lr: [1,\n  epochs: 3\nrun: {\n")
    with pytest.raises(SkelrecError, match=rf"^{bad_yaml}:\d+: invalid YAML"):
        load_config(bad_yaml)
    not_mapping = write(tmp_path / "l.yaml", "- a\n- b\n")
    with pytest.raises(SkelrecError, match="must be a YAML mapping"):
        load_config(not_mapping)
    with pytest.raises(SkelrecError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def test_base_errors(tmp_path):
    loop_a = write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(SkelrecError, match="inheritance loops"):
        load_config(loop_a)
    missing = write(tmp_path / "m.yaml", "_base_: nowhere.yaml\n")
    with pytest.raises(SkelrecError, match=rf"^{missing}: _base_ file nowhere\.yaml not found"):
        load_config(missing)


def test_save_and_reload_resolved_config(tmp_path):
    cfg = load_config(TINY, ["optim.lr=2e-3", "data.layout=ntu25", "method.kwargs.mask_ratio=0.9"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    text = path.read_text()
    assert "_base_" not in text and "mask_ratio: 0.9" in text
    assert load_config(path) == cfg
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert section_from_dict(DataConfig, config_to_dict(cfg.data)) == cfg.data


def test_config_diff():
    a = TrainConfig()
    b = config_from_dict({"optim": {"lr": 0.002}, "encoder": {"kwargs": {"depth": 4}}})
    assert config_diff(a, b) == ["encoder.kwargs.depth: None -> 4", "optim.lr: 0.001 -> 0.002"]
    assert config_diff(a, TrainConfig()) == []


def test_dataclasses_validate_when_built_in_code():
    with pytest.raises(SkelrecError, match="warmup_epochs"):
        OptimConfig(epochs=5, warmup_epochs=6)
    with pytest.raises(SkelrecError, match=r"^<dict>: optim\.eps must be float"):
        config_from_dict({"optim": {"eps": "tiny"}}, source="<dict>")
