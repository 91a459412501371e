"""The checkpoint folder format (skelrec.checkpoint): round trips and every refusal."""

from __future__ import annotations

import json

import pytest
import torch

from skelrec import __version__
from skelrec import checkpoint as ckpt
from skelrec.checkpoint import (
    FORMAT_VERSION,
    CheckpointConfig,
    architecture,
    build_model,
    load_checkpoint,
    load_model,
    read_config,
    save_checkpoint,
)
from skelrec.errors import SkelrecError
from skelrec.models import Classifier, build_encoder, build_head
from skelrec.paths import shipped_weights_dir
from skelrec.skeleton import Normalization

PACKAGE_WEIGHTS = shipped_weights_dir()
ENCODER = {"embed_dim": 16, "depth": 1, "num_heads": 2, "num_frames": 8}


class NotATensor:
    """A pickled object that torch.load(weights_only=True) must refuse."""


def tiny_model() -> Classifier:
    torch.manual_seed(0)
    enc = build_encoder("transformer", **ENCODER)
    return Classifier(enc, build_head("linear", in_dim=16, num_classes=3))


def config_for(model, **extra) -> dict:
    return {
        **architecture(model),
        "layout": "ntu25",
        "normalization": Normalization(frames=8, persons=2).to_dict(),
        "clip_length": 8,
        "num_persons": 2,
        "labels": ["wave", "sit down", "jump"] if isinstance(model, Classifier) else None,
        **extra,
    }


def write_config(folder, model) -> None:
    """config.json alone, as a foreign tool that stores pickles beside it would write it."""
    cfg = {"format_version": FORMAT_VERSION, "skelrec_version": __version__} | config_for(model)
    (folder / "config.json").write_text(json.dumps(cfg))


@pytest.fixture
def saved(tmp_path):
    """A checkpoint folder of the tiny classifier (its model in eval mode, after a training step for BN stats)."""
    model = tiny_model()
    model(torch.randn(4, 2, 8, 25, 3))  # moves the probe's BatchNorm running statistics
    save_checkpoint(tmp_path / "run", model.state_dict(), config_for(model, training={"epochs": 1}))
    return tmp_path / "run", model.eval()


# ---------------------------------------------------------------- round trips


def test_round_trip_is_bit_exact(saved):
    folder, model = saved
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]  # no temp files left
    loaded, cfg = load_model(folder)
    assert not loaded.training
    original = model.state_dict()
    restored = loaded.state_dict()
    assert restored.keys() == original.keys()
    for key, value in original.items():
        assert restored[key].dtype == value.dtype and torch.equal(restored[key], value), key
    x = torch.randn(2, 2, 8, 25, 3)
    assert torch.equal(loaded(x), model(x))
    assert cfg.format_version == FORMAT_VERSION and cfg.skelrec_version == __version__
    assert cfg.labels == ("wave", "sit down", "jump") and cfg.training == {"epochs": 1}
    assert Normalization.from_dict(cfg.normalization) == Normalization(frames=8, persons=2)


def test_encoder_only_checkpoint(tmp_path):
    enc = build_encoder("gin", layout="coco17", embed_dim=8, depth=1)
    cfg = config_for(enc, method={"name": "skeletonmae"})
    assert cfg["head"] is None and cfg["encoder"]["name"] == "gin"
    save_checkpoint(tmp_path, enc.state_dict(), cfg)
    state, loaded_cfg = load_checkpoint(tmp_path)
    assert state.keys() == enc.state_dict().keys() and loaded_cfg.method == {"name": "skeletonmae"}
    assert loaded_cfg.method_name == "skeletonmae" and loaded_cfg.head is None
    assert type(build_model(loaded_cfg)) is type(enc)
    model, _ = load_model(tmp_path / "model.safetensors")  # the weights file's path works too
    assert torch.equal(model.joint_embed.weight, enc.joint_embed.weight)


def test_failed_write_keeps_the_previous_checkpoint(saved, monkeypatch):
    folder, _ = saved
    before = (folder / "model.safetensors").read_bytes()

    def broken_save(tensors, path, metadata=None):
        open(path, "wb").write(b"partial")  # noqa: SIM115
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(folder, {"w": torch.zeros(1)}, read_config(folder))
    assert (folder / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


# ---------------------------------------------------------------- refusals


def test_pickle_only_folder_needs_the_trust_flag(tmp_path):
    model = tiny_model()
    write_config(tmp_path, model)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(SkelrecError, match=r"only pickled weights \(pytorch_model.bin\).*trust_pickle=True"):
        load_model(tmp_path)
    loaded, _ = load_model(tmp_path, trust_pickle=True)
    assert torch.equal(loaded.head.fc.weight, model.head.fc.weight)


def test_trusted_pickle_still_loads_tensors_only(tmp_path):
    write_config(tmp_path, tiny_model())
    torch.save({"w": NotATensor()}, tmp_path / "weights.ckpt")
    with pytest.raises(SkelrecError, match=r"weights.ckpt: cannot read it as a tensors-only pickle"):
        load_checkpoint(tmp_path, trust_pickle=True)


def test_newer_format_asks_for_an_upgrade(saved):
    folder, _ = saved
    cfg = read_config(folder).to_dict() | {"format_version": FORMAT_VERSION + 1, "skelrec_version": "9.0.0"}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SkelrecError, match=r"made by a newer skelrec 9\.0\.0 .*upgrade skelrec"):
        load_model(folder)


def test_missing_fields_are_named(saved):
    folder, _ = saved
    cfg = read_config(folder).to_dict()
    del cfg["layout"], cfg["clip_length"]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(SkelrecError, match=r"config.json: missing required fields layout, clip_length"):
        load_checkpoint(folder)
    with pytest.raises(SkelrecError, match="missing required fields normalization"):
        save_checkpoint(folder / "new", {}, {k: v for k, v in cfg.items() if k != "normalization"} | {"layout": "x"})


def test_invalid_json_names_file_and_line(saved):
    folder, _ = saved
    (folder / "config.json").write_text('{\n  "format_version": 1,\n  oops\n}')
    with pytest.raises(SkelrecError, match=r"config.json:3: invalid JSON"):
        load_model(folder)


@pytest.mark.parametrize("damage", ["garbage", "truncate"])
def test_corrupted_weights_give_a_one_line_error_naming_the_file(saved, damage):
    folder, _ = saved
    path = folder / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(b"\x00" * 7 if damage == "garbage" else data[: len(data) - 100])
    with pytest.raises(SkelrecError) as err:
        load_model(folder)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "corrupted or truncated" in message


def test_missing_and_unexpected_keys_are_named_with_counts(saved):
    folder, model = saved
    state = model.state_dict()
    del state["head.fc.bias"]
    state |= {f"extra.{i}": torch.zeros(1) for i in range(7)}
    save_checkpoint(folder, state, read_config(folder))
    with pytest.raises(SkelrecError) as err:
        load_model(folder)
    message = str(err.value)
    assert "missing keys head.fc.bias" in message
    assert "unexpected keys extra.0, extra.1, extra.2, extra.3, extra.4, ... (7 in all)" in message


def test_shape_mismatch_names_key_and_both_shapes(saved):
    folder, model = saved
    state = model.state_dict() | {"head.fc.weight": torch.zeros(5, 16)}
    save_checkpoint(folder, state, read_config(folder))
    with pytest.raises(SkelrecError, match=r"head\.fc\.weight \(checkpoint \(5, 16\), model \(3, 16\)\)"):
        load_model(folder)


def test_config_errors(saved, tmp_path):
    folder, _ = saved
    cfg = read_config(folder).to_dict()
    (folder / "config.json").write_text(json.dumps(cfg | {"encoder": {"name": "vit", "config": {}}}))
    with pytest.raises(SkelrecError, match=r"config.json: unknown encoder 'vit'; choose from .*\bbigru\b"):
        load_model(folder)
    with pytest.raises(SkelrecError, match='"encoder" must be'):
        save_checkpoint(tmp_path / "a", {}, cfg | {"encoder": "transformer"})
    with pytest.raises(SkelrecError, match="not JSON-serializable"):
        save_checkpoint(tmp_path / "b", {}, cfg | {"metrics": [{"acc": torch.tensor(1.0)}]})
    with pytest.raises(SkelrecError, match="no such checkpoint folder"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkelrecError, match=r"config.json: not found"):
        load_model(tmp_path / "empty")


# ---------------------------------------------------------------- the typed config


@pytest.mark.parametrize("name", ["gestures", "default"])
def test_shipped_configs_round_trip_unchanged(name):
    """An existing config.json (a shipped model's) reads into the typed config and writes back as is."""
    path = PACKAGE_WEIGHTS / name / "config.json"
    text = path.read_text(encoding="utf-8")
    cfg = read_config(path.parent)
    assert isinstance(cfg, CheckpointConfig) and cfg.layout == "kinect20" and cfg.encoder.name == "stgcn"
    if name == "gestures":  # written before the typed config existed
        assert len(cfg.labels) == 27 and cfg.head is not None and cfg.method is None
        assert set(cfg.extra) == {"per_class", "compared_with", "bridge_check"}  # free-form sections, carried along
    else:
        assert "label_sources" in cfg.extra and cfg.temperature is not None
    assert json.dumps(cfg.to_dict(), indent=2, ensure_ascii=False) + "\n" == text  # same keys, order and nulls


def test_save_checkpoint_takes_the_typed_config(saved, tmp_path):
    folder, model = saved
    cfg = read_config(folder).updated(temperature=1.5, calibration={"ece": 0.1})
    assert cfg.temperature == 1.5 and cfg.extra["calibration"] == {"ece": 0.1}
    save_checkpoint(tmp_path / "typed", model.state_dict(), cfg)
    assert read_config(tmp_path / "typed") == cfg
    assert "calibration" not in read_config(folder).updated(calibration=None).extra  # None removes a section
    assert type(build_model(cfg, with_head=False)) is type(model.encoder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clip_length": "120"}, '"clip_length" must be an integer'),
        ({"labels": "wave"}, '"labels" must be a list of class names or null'),
        ({"temperature": "hot"}, '"temperature" must be a number'),
        ({"min_persons": 0}, '"min_persons" must be an integer >= 1'),
        ({"data": [1]}, '"data" must be an object'),
        ({"head": {"config": {}}}, '"head" must be'),
    ],
)
def test_typed_fields_of_the_wrong_type_are_one_line_errors(saved, change, message):
    folder, _ = saved
    (folder / "config.json").write_text(json.dumps(read_config(folder).to_dict() | change))
    with pytest.raises(SkelrecError, match=message) as err:
        read_config(folder)
    assert "\n" not in str(err.value) and "config.json" in str(err.value)
