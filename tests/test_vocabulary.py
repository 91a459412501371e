"""The unified action vocabulary: every reader class maps, no label is a spelling accident, the table round-trips."""

from __future__ import annotations

import json

import pytest

from skelrec.datasets import DATASETS
from skelrec.datasets.cache import PreparedDataset
from skelrec.datasets.vocabulary import UNIFIED, Vocabulary, get_vocabulary, spelling_key
from skelrec.errors import SkelrecError


@pytest.mark.parametrize("dataset", UNIFIED.datasets)
def test_every_class_of_every_reader_maps(dataset):
    classes = DATASETS[dataset].classes
    assert set(UNIFIED.sources[dataset]) == set(classes)  # no missing class and no stale (renamed) one
    indices = UNIFIED.index_map(dataset, classes)
    assert len(indices) == len(classes) and all(0 <= i < len(UNIFIED.labels) for i in indices)


@pytest.mark.parametrize("dataset", UNIFIED.datasets)
def test_classes_of_one_dataset_stay_apart(dataset):
    mapping = UNIFIED.sources[dataset]
    assert len(set(mapping.values())) == len(mapping), f"two {dataset} classes merged"


def test_no_label_is_an_accident_of_spelling():
    keys = [spelling_key(label) for label in UNIFIED.labels]
    clashes = {k for k in keys if keys.count(k) > 1}
    assert not clashes
    assert all(label == label.strip().lower() and "  " not in label for label in UNIFIED.labels)
    assert spelling_key("Wave hands") == spelling_key("wave-hand") != spelling_key("wave arm")


def test_deliberate_merges_and_separations():
    def label(dataset, name):
        return UNIFIED.sources[dataset][name]

    assert label("utd_mhad", "stand to sit") == label("nw_ucla", "sit down") == label("ntu60", "sitting down")
    wave = label("utd_mhad", "right hand wave")
    assert wave == label("msr_action3d", "high arm wave") == label("ntu60", "hand waving")
    assert label("nw_ucla", "pick up with one hand") == label("ntu60", "pickup")
    assert label("utd_mhad", "draw circle (clockwise)") != label("utd_mhad", "draw circle (counter clockwise)")
    assert label("msr_action3d", "draw circle") not in {label("utd_mhad", "draw circle (clockwise)")}


def test_table_round_trips_through_json():
    sub = UNIFIED.restrict(["utd_mhad", "nw_ucla", "msr_action3d", "ntu60"])
    stored = json.loads(json.dumps(sub.label_sources()))
    again = Vocabulary.from_sources(sub.name, stored)
    assert again == sub and again.labels == sub.labels
    for dataset, mapping in stored.items():  # every class goes back to the label index a model predicts
        for name, label in mapping.items():
            assert sub.labels[sub.index_map(dataset, [name])[0]] == label
    assert "lift outstretched arms" not in sub.labels  # restricted: only the chosen datasets' labels


def test_unknown_names_are_one_line_errors():
    with pytest.raises(SkelrecError, match="unknown vocabulary 'nope'"):
        get_vocabulary("nope")
    with pytest.raises(SkelrecError, match="does not map dataset 'pku_mmd'"):
        UNIFIED.index_map("pku_mmd", ["bow"])
    with pytest.raises(SkelrecError, match="class 'moonwalk' has no vocabulary label"):
        UNIFIED.index_map("utd_mhad", ["moonwalk"])
    with pytest.raises(SkelrecError, match="no dataset pku_mmd"):
        UNIFIED.restrict(["pku_mmd"])


@pytest.mark.slow
def test_real_label_names_map(real_caches):
    """The class names the real data's samples carry (label_name of every prepared sample) are all in the table."""
    seen = set()
    for root in real_caches.values():
        ds = PreparedDataset(root)
        if ds.dataset not in UNIFIED.sources:
            continue
        names = {row["label_name"] for row in ds.rows if row["label"] >= 0}
        assert names <= set(UNIFIED.sources[ds.dataset]), ds.dataset
        seen.add(ds.dataset)
    assert seen == set(UNIFIED.datasets)
