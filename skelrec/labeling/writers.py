"""Output files of a :class:`~skelrec.labeling.result.LabelResult`, by format name: ``json``, ``csv``, ``srt``.

Every file is written atomically (:mod:`skelrec.files`): to a temporary file in the same folder, then moved into
place with ``os.replace``, so an interrupted run never leaves a half-written result that a re-run would mistake for a
finished one.

* ``json``: :meth:`LabelResult.to_dict` (video, fps, frames, duration, model, settings, pose statistics, summary,
  segments, windows with their top-k classes).
* ``csv``: one row per segment: ``start,end,label,score,state`` (seconds; score empty for ``no person``).
* ``srt``: one subtitle per segment with a person in view, ``label (score)``; ``no person`` stretches are left out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from skelrec.errors import SkelrecError
from skelrec.files import atomic_write_text
from skelrec.labeling.result import LabelResult
from skelrec.labeling.segments import Segment
from skelrec.registry import Registry

__all__ = ["WRITERS", "parse_formats", "register_writer", "write_outputs"]

Render = Callable[[LabelResult], str]
WRITERS: Registry[Render] = Registry("output format")
"""``render(result) -> text`` of ``<stem>.<name>`` files, by format name."""
register_writer = WRITERS.register


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """``"json,csv"`` or ``["json", "csv"]`` -> checked, de-duplicated format names in the given order."""
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    names = list(dict.fromkeys(n.strip().lower() for n in names if n.strip()))
    if not names:
        raise SkelrecError(f"no output format given; choose from {', '.join(WRITERS)}")
    return [WRITERS.check(n) for n in names]


def write_outputs(result: LabelResult, out_dir: str | Path, stem: str, formats: Iterable[str]) -> dict[str, Path]:
    """Write ``<out_dir>/<stem>.<fmt>`` for every format; ``json`` last, so it marks a finished video."""
    names = parse_formats(formats)
    ordered = [n for n in names if n != "json"] + [n for n in names if n == "json"]
    paths = {}
    for name in ordered:
        text = WRITERS[name](result)
        paths[name] = atomic_write_text(Path(out_dir) / f"{stem}.{name}", text)
    return paths


@register_writer("json")
def render_json(result: LabelResult) -> str:
    return json.dumps(result.to_dict(), indent=1, ensure_ascii=False) + "\n"


@register_writer("csv")
def render_csv(result: LabelResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["start", "end", "label", "score", "state"])
    for s in result.segments:
        row = s.to_dict()
        writer.writerow([row["start"], row["end"], row["label"], "" if row["score"] is None else row["score"], s.state])
    return buf.getvalue()


@register_writer("srt")
def render_srt(result: LabelResult) -> str:
    shown = [s for s in result.segments if s.state != "no_person"]
    return "".join(_srt_entry(i, s) for i, s in enumerate(shown, start=1))


def _srt_entry(number: int, seg: Segment) -> str:
    text = seg.label if seg.score is None else f"{seg.label} ({seg.score:.2f})"
    return f"{number}\n{srt_time(seg.start)} --> {srt_time(seg.end)}\n{text}\n\n"


def srt_time(seconds: float) -> str:
    """``3725.5`` -> ``"01:02:05,500"``."""
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"
