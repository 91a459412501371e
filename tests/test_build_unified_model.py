"""pretrain/build_unified_model.py: what its input options change in the fine-tuning (``input_changes``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from skelrec.config import AugmentConfig, DataConfig
from skelrec.datasets.transforms import build_transform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pretrain"))
import build_unified_model as build


def _args(**given) -> argparse.Namespace:
    return argparse.Namespace(**({"align": False, "depth_scale": None, "flip": 0.0} | given))


def test_no_option_changes_nothing():
    assert build.input_changes(_args()) == {"open": {}, "augment": {}}


@pytest.mark.parametrize(
    ("given", "opened", "augment"),
    [
        ({"align": True}, {"normalization": {"align": True}}, {}),
        ({"depth_scale": (0.5, 1.5)}, {}, {"depth_scale": [0.5, 1.5]}),
        ({"flip": 0.5}, {}, {"flip": 0.5}),
        ({"flip": 0.5, "depth_scale": (0.8, 1.2)}, {}, {"depth_scale": [0.8, 1.2], "flip": 0.5}),
    ],
)
def test_input_options_reach_the_fine_tuning_input(given, opened, augment):
    changes = build.input_changes(_args(**given))
    assert changes == {"open": opened, "augment": augment}
    data = DataConfig(layout="kinect20", clip_length=16, augment=AugmentConfig(**{**augment, "crop_min_frames": 8}))
    names = [type(t).__name__ for t in build_transform(data, train=True).transforms]
    assert ("RandomFlip" in names) == ("flip" in augment)
    assert ("RandomDepthScale" in names) == ("depth_scale" in augment)


def test_machine_paths_in_a_card_config_become_repository_paths():
    """Absolute paths into a checkout (this clone or the worktree a run was trained in) lose the machine prefix;
    paths elsewhere (the shared data) and relative ones are left alone."""
    config = {
        "data": {"paths": ["/work/wt-run4/caches/pku_mmd_background"]},
        "command": "skelrec pretrain x.yaml run.out_dir=/home/u/skelrec/runs/ssl data=/data/pku_mmd/v1",
        "pretrained": "runs/ssl_pku/mamp/encoder",
    }
    assert build.repository_paths(config) == {
        "data": {"paths": ["caches/pku_mmd_background"]},
        "command": "skelrec pretrain x.yaml run.out_dir=runs/ssl data=/data/pku_mmd/v1",
        "pretrained": "runs/ssl_pku/mamp/encoder",
    }
