"""skelrec.registry: the one name -> item table and its one error."""

from __future__ import annotations

import sys

import pytest

from skelrec.datasets import DATASETS
from skelrec.errors import SkelrecError
from skelrec.labeling import SMOOTHERS, WRITERS
from skelrec.models import ENCODERS, HEADS
from skelrec.models.pooling import POOLINGS
from skelrec.pose import POSE_BACKENDS
from skelrec.registry import Registry
from skelrec.skeleton import LAYOUTS
from skelrec.ssl import METHODS
from skelrec.teach import TEACH_METHODS


def test_register_lookup_and_the_one_unknown_name_error():
    colours: Registry[int] = Registry("colour", {"red": 1})

    @colours.register("green")
    def green() -> int:
        return 2

    colours.add("blue", 3)  # type: ignore[arg-type]
    assert colours["green"] is green and list(colours) == ["red", "green", "blue"] and "red" in colours
    assert colours.get("pink") is None and "pink" not in colours and len(colours) == 3
    with pytest.raises(SkelrecError, match=r"^unknown colour 'pink'; choose from red, green, blue$"):
        colours["pink"]
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        colours.add("red", 4)


def test_populate_imports_the_plugins_on_first_lookup(tmp_path, monkeypatch):
    things: Registry[int] = Registry("thing", populate="skelrec_test_plugin")
    plugin = f"import sys\nsys.modules[{__name__!r}].PLUGIN_TARGET.add('a', 1)\n"
    (tmp_path / "skelrec_test_plugin.py").write_text(plugin)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(f"{__name__}.PLUGIN_TARGET", things, raising=False)
    monkeypatch.delitem(sys.modules, "skelrec_test_plugin", raising=False)
    assert things["a"] == 1 and list(things) == ["a"]  # the plug-in module registered itself on the first lookup


@pytest.mark.parametrize(
    ("registry", "kind"),
    [
        (ENCODERS, "encoder"),
        (HEADS, "head"),
        (METHODS, "method"),
        (DATASETS, "dataset"),
        (POSE_BACKENDS, "pose backend"),
        (TEACH_METHODS, "teach method"),
        (LAYOUTS, "skeleton layout"),
        (SMOOTHERS, "smoothing"),
        (WRITERS, "output format"),
        (POOLINGS, "pooling"),
    ],
)
def test_every_choose_by_name_table_is_a_registry(registry: Registry[object], kind: str):
    assert isinstance(registry, Registry) and len(registry) > 0
    with pytest.raises(SkelrecError, match=rf"^unknown {kind} 'nope'; choose from {', '.join(registry)}$"):
        registry["nope"]
