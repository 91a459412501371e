"""``skelrec prepare``: read every file of a dataset once, in parallel, into the cache of :mod:`.cache`.

How a run survives interruption (Ctrl-C, SIGKILL, power loss) without half-written files:

1. The sorted file list is cut into fixed chunks of ``chunk_files`` files. ``shards/manifest.json`` records the
   dataset, the reader options and that list; a later run with the same manifest resumes, any other starts over.
2. Worker processes read the files (ordered ``Pool.imap``); the main process gathers one chunk's samples and writes
   them as ``shards/shard-NNNNN.npz`` through a temporary file, fsync and ``os.replace``: a shard exists whole or
   not at all, and a re-run skips the shards that exist.
3. When every shard exists they are consolidated into ``frames.npy``, ``index.npy``, ``labels.npy``,
   ``meta.jsonl`` and ``splits/*.json`` (each written to a temporary name, fsynced, renamed), then ``info.json`` —
   last, so its presence marks a complete cache — and finally the shards are deleted.

A file the reader rejects stops the run with its one-line :class:`DataFormatError` (file and line); with
``skip_bad=True`` (``--skip-bad``) the run goes on and the file is listed, with the reason, in ``info.json`` and the
report. A re-run on a complete cache returns at once (``force=True`` rebuilds it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from skelrec import __version__
from skelrec.datasets.base import DatasetReader, Sample, get_reader
from skelrec.datasets.cache import (
    CACHE_FORMAT,
    FRAMES,
    INDEX,
    INFO,
    LABELS,
    MANIFEST,
    META,
    ROW_KEYS,
    SHARDS_DIR,
    SPLITS_DIR,
)
from skelrec.errors import DataFormatError, SkelrecError
from skelrec.files import atomic_write, atomic_write_stream, atomic_write_text, fsync_dir, remove_temporaries
from skelrec.progress import make_progress
from skelrec.skeleton import get_layout

__all__ = ["CHUNK_FILES", "PrepareReport", "prepare_dataset", "read_one"]

log = logging.getLogger(__name__)

CHUNK_FILES = 64
"""Files per shard: what an interruption can lose, and the granularity of resuming."""


# -------------------------------------------------------------------------------------------------------------
# The report.
# -------------------------------------------------------------------------------------------------------------


@dataclass
class PrepareReport:
    """What a prepare run produced; built from the cache's ``info.json``.

    Attributes:
        out: the cache folder.
        info: the cache's ``info.json``.
        already_complete: the cache was complete before this run, nothing was read.
        reused_shards: shards of an interrupted earlier run that this run did not read again.
        notes: remarks for the user (rebuilt caches, skipped protocols, sample-count mismatches).
        seconds: wall time of this run.
    """

    out: Path
    info: dict[str, Any]
    already_complete: bool = False
    reused_shards: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def samples(self) -> int:
        return int(self.info["samples"])

    @property
    def splits(self) -> dict[str, dict[str, int]]:
        return dict(self.info["protocols"])

    @property
    def skipped_files(self) -> list[dict[str, str]]:
        return list(self.info["skipped_files"])

    def describe(self) -> str:
        """Multi-line human summary: counts, splits, classes, skipped files, warnings."""
        i = self.info
        head = (
            "already complete (pass --force to rebuild)" if self.already_complete else f"done in {self.seconds:.1f} s"
        )
        lines = [
            f"{i['dataset']} -> {self.out}: {head}",
            f"  samples   {i['samples']:,} from {i['files']:,} files ({i['frames']:,} frames; "
            f"persons x joints x channels = {i['persons']} x {i['joints']} x {i['channels']}, layout {i['layout']})",
            f"  classes   {len(set(i['label_counts']))} of {len(i['classes'])} present; "
            f"{i['labelled']:,} labelled, {i['samples'] - i['labelled']:,} unlabelled",
        ]
        lines += [f"  split     {p}: train {c['train']:,}, test {c['test']:,}" for p, c in i["protocols"].items()]
        lines += [f"  no split  {p}: {why}" for p, why in i["skipped_protocols"].items()]
        lines += _class_lines(i)
        lines.append(f"  skipped   {len(i['skipped_files'])} bad files")
        lines += [f"    {s['file']}: {s['reason']}" for s in i["skipped_files"]]
        lines += [f"  left out  {n:,} by the reader: {why}" for why, n in i["reader_skips"].items()]
        if self.reused_shards:
            lines.append(f"  resumed   {self.reused_shards} shards of an interrupted run were reused")
        lines += [f"  note: {n}" for n in self.notes]
        if i.get("expected_samples") is not None and i["expected_samples"] != i["samples"]:
            lines.append(f"  warning: {count_warning(i['dataset'], i['expected_samples'], i['samples'])}")
        return "\n".join(lines)


def _class_lines(info: Mapping[str, Any]) -> list[str]:
    """Samples per present class: in all, then train/test of every protocol (older caches: the total only)."""
    parts: dict[str, dict[str, dict[str, int]]] = info.get("class_counts", {})
    head = "".join(f"{p + ' train/test':>20}" for p in parts)
    lines = [f"  per class {'':<38}{'all':>7}{head}"]
    for key, total in sorted(info["label_counts"].items(), key=lambda kv: int(kv[0])):
        name = info["classes"][int(key)] if int(key) < len(info["classes"]) else key
        split = "".join(f"{c['train'].get(key, 0):>13,}/{c['test'].get(key, 0):<6,}" for c in parts.values())
        lines.append(f"    {int(key):>3} {name[:40]:<40}{total:>7,}{split}")
    return lines


def count_warning(dataset: str, expected: int, got: int) -> str:
    return (
        f"the complete {dataset} dataset gives {expected:,} samples, this cache has {got:,} "
        "(only part of the dataset's files, or files skipped?)"
    )


def _json_default(value: Any) -> Any:
    """Metadata values JSON does not know: NumPy scalars, paths, sets."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, indent=indent, ensure_ascii=False)


def _write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, _dumps(value, indent=1) + "\n")


def _write_npy(path: Path, array: np.ndarray) -> None:
    atomic_write_stream(path, lambda f: np.save(f, array, allow_pickle=False))


# -------------------------------------------------------------------------------------------------------------
# Reading files (in worker processes).
# -------------------------------------------------------------------------------------------------------------


@dataclass
class _FileResult:
    """Outcome of reading one file: its samples, or why it could not be read."""

    path: str
    samples: list[Sample] = field(default_factory=list)
    skips: dict[str, int] = field(default_factory=dict)  # clips/files the reader left out on purpose, by reason
    error: str | None = None
    format_error: tuple[str, str, str | None, int | None] | None = None  # DataFormatError fields

    def raise_error(self) -> None:
        if self.format_error is not None:
            path, problem, expected, line = self.format_error
            raise DataFormatError(path, problem, expected=expected, line=line)
        raise SkelrecError(self.error)


_WORKER_READER: DatasetReader | None = None


def _init_worker(reader_cls: type[DatasetReader], raw: str, options: dict[str, Any]) -> None:
    global _WORKER_READER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled once, by the main process
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _WORKER_READER = reader_cls(raw, **options)


def _exit_with_parent(parent: int) -> None:
    """End this worker soon after the main process dies (SIGKILL): an orphan would wait for tasks forever."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _read_in_worker(path: str) -> _FileResult:
    assert _WORKER_READER is not None, "worker not initialised"
    return _read_file(_WORKER_READER, path)


def read_one(reader: DatasetReader, path: Path) -> list[Sample]:
    """``reader.read(path)``, with any unexpected exception of the reader turned into a one-line DataFormatError.

    Odd input can trip a reader where it does not check (an IndexError on a short line...): the user still gets
    the file's name and no traceback; the traceback is logged at debug level for the reader's author.
    """
    try:
        return reader.read(path)
    except SkelrecError:
        raise
    except Exception as err:
        log.debug("reader %s failed on %s", reader.name, path, exc_info=True)
        problem = " ".join(f"{reader.name} reader failed: {type(err).__name__}: {err}".split())
        raise DataFormatError(path, problem) from err


def _read_file(reader: DatasetReader, path: str) -> _FileResult:
    """Read one file; every failure becomes a one-line reason (exceptions do not cross processes reliably)."""
    before = Counter(reader.stats)
    try:
        samples = read_one(reader, Path(path))
        return _FileResult(path, samples=samples, skips=dict(reader.stats - before))
    except DataFormatError as err:
        return _FileResult(path, error=str(err), format_error=(err.path, err.problem, err.expected, err.line))
    except SkelrecError as err:
        return _FileResult(path, error=str(err))


@contextmanager
def _read_all(
    reader: DatasetReader, raw: Path, options: dict[str, Any], paths: list[str], workers: int
) -> Iterator[Iterator[_FileResult]]:
    """Results of ``paths`` in order, read by ``workers`` processes (inline when 1).

    The processes start on entering, before any other thread (the progress bar) does. On an error or Ctrl-C the
    files not yet started are cancelled; a worker that dies (killed when out of memory) becomes a SkelrecError
    instead of a hang.
    """
    if workers > 1 and not type(reader).parallel:
        log.info("%s reads its files in this process (its libraries are not fork-safe)", reader.name)
        workers = 1
    if workers <= 1 or len(paths) <= 1:
        yield (_read_file(reader, p) for p in paths)
        return
    pool = ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(type(reader), str(raw), options))
    try:
        yield _unbroken(pool.map(_read_in_worker, paths, chunksize=max(1, min(8, len(paths) // (workers * 16)))))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _unbroken(results: Iterator[_FileResult]) -> Iterator[_FileResult]:
    try:
        yield from results
    except BrokenProcessPool:
        raise SkelrecError(
            "a reader process died (out of memory?); finished shards are kept: run the same command again, "
            "with fewer --workers"
        ) from None


# -------------------------------------------------------------------------------------------------------------
# Shards.
# -------------------------------------------------------------------------------------------------------------


def _row(sample: Sample) -> dict[str, Any]:
    clash = sorted(set(sample.meta) & set(ROW_KEYS))
    if clash:
        raise SkelrecError(
            f"{sample.dataset} reader bug: sample {sample.name} has metadata keys {clash}, which clash with the "
            f"cache columns {', '.join(ROW_KEYS)}; rename them in the reader"
        )
    return {
        "name": sample.name,
        "label": sample.label,
        "label_name": sample.label_name,
        "fps": sample.fps,
        **sample.meta,
    }


class _ShardBuilder:
    """Collects the samples of one chunk of files and writes them as one ``.npz`` shard."""

    def __init__(self, files: list[str], rel: Callable[[str], str]) -> None:
        self.files, self.rel = files, rel
        self.samples: list[Sample] = []
        self.skipped: list[dict[str, str]] = []
        self.skips: Counter[str] = Counter()

    def add(self, result: _FileResult, skip_bad: bool) -> None:
        if result.error is None:
            self.samples.extend(result.samples)
            self.skips.update(result.skips)
        elif skip_bad:
            self.skipped.append({"file": self.rel(result.path), "reason": result.error})
        else:
            result.raise_error()

    def write(self, path: Path, joints: int) -> None:
        channels = {s.data.shape[3] for s in self.samples}
        if len(channels) > 1:
            raise SkelrecError(f"{path.parent.parent}: the reader returned samples with {sorted(channels)} channels")
        persons = max([s.persons for s in self.samples], default=1)
        c = channels.pop() if channels else 0
        frames = np.zeros((sum(s.frames for s in self.samples), persons, joints, c), np.float32)  # (F, M, V, C)
        t = 0
        for s in self.samples:
            frames[t : t + s.frames, : s.persons] = s.data.transpose(1, 0, 2, 3)
            t += s.frames
        arrays = {
            "frames": frames,
            "lengths": np.array([s.frames for s in self.samples], np.int64),
            "labels": np.array([-1 if s.label is None else s.label for s in self.samples], np.int64),
            "rows": np.array(_dumps([_row(s) for s in self.samples])),
            "skipped": np.array(_dumps(self.skipped)),
            "skips": np.array(_dumps(self.skips)),
            "files": np.array(_dumps([self.rel(f) for f in self.files])),
            "shape": np.array(frames.shape, np.int64),
        }
        atomic_write_stream(path, lambda f: np.savez(f, **arrays))


@dataclass
class _Shard:
    """A finished shard, opened lazily (``frames`` is read only when consolidating)."""

    path: Path
    lengths: np.ndarray
    labels: np.ndarray
    rows: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    skips: dict[str, int]
    files: list[str]
    shape: tuple[int, ...]

    @classmethod
    def load(cls, path: Path) -> _Shard:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                path,
                z["lengths"],
                z["labels"],
                json.loads(str(z["rows"])),
                json.loads(str(z["skipped"])),
                json.loads(str(z["skips"])),
                json.loads(str(z["files"])),
                tuple(int(d) for d in z["shape"]),
            )

    def frames(self) -> np.ndarray:
        with np.load(self.path, allow_pickle=False) as z:
            return z["frames"]


def _shard_path(shards: Path, k: int) -> Path:
    return shards / f"shard-{k:05d}.npz"


def _valid_shard(path: Path, files: list[str]) -> bool:
    if not path.is_file():
        return False
    try:
        return _Shard.load(path).files == files
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        log.warning("%s: unreadable shard, reading its files again", path)
        return False


# -------------------------------------------------------------------------------------------------------------
# Consolidation.
# -------------------------------------------------------------------------------------------------------------


def _split_protocols(
    reader: DatasetReader, rows: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, list[int]]], dict[str, str]]:
    """Each protocol's ``{"train": [...], "test": [...]}``; protocols the data cannot answer go to the second dict."""
    splits, skipped = {}, {}
    n = len(rows)
    for protocol in reader.protocols:
        try:
            parts = reader.split(protocol, rows)
        except (SkelrecError, KeyError) as err:
            skipped[protocol] = f"the data cannot answer it ({type(err).__name__}: {err})"
            continue
        as_lists = {k: [int(i) for i in np.asarray(v).ravel()] for k, v in parts.items()}
        empty = [p for p in ("train", "test") if not as_lists.get(p)]
        out_of_range = any(i < 0 or i >= n for v in as_lists.values() for i in v)
        if out_of_range:
            raise SkelrecError(f"{reader.name} reader bug: split {protocol!r} has indices outside [0, {n})")
        if empty:
            skipped[protocol] = f"no {' or '.join(empty)} samples among the prepared ones"
            continue
        splits[protocol] = as_lists
    return splits, skipped


def _label_counts(labels: np.ndarray) -> dict[str, int]:
    """``{label: samples}`` of the labelled entries (>= 0), keys as text (JSON)."""
    labelled = labels[labels >= 0]
    return {str(k): int(v) for k, v in zip(*np.unique(labelled, return_counts=True), strict=True)}


def _consolidate(
    reader: DatasetReader, out: Path, shards: list[Path], manifest: dict[str, Any], started: float
) -> dict[str, Any]:
    """Merge the shards into the final arrays; returns the info written last to ``info.json``."""
    opened = [_Shard.load(p) for p in shards]
    with_samples = [s for s in opened if len(s.lengths)]
    if not with_samples:
        skipped = sum(len(s.skipped) for s in opened)
        raise SkelrecError(
            f"{manifest['raw']}: the {reader.name} reader gave no samples from {len(manifest['files'])} files "
            f"({skipped} skipped as bad); check the folder and the dataset name"
        )
    channels = {s.shape[3] for s in with_samples}
    if len(channels) > 1:
        raise SkelrecError(f"{reader.name} reader bug: samples with different channel counts {sorted(channels)}")
    lay = get_layout(reader.layout)
    persons = max([reader.persons, *(s.shape[1] for s in with_samples)])
    shape = (sum(s.shape[0] for s in opened), persons, lay.num_joints, channels.pop())  # (F, M, V, C)

    def fill(tmp: Path) -> None:
        frames = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        t = 0
        for s in with_samples:
            block = s.frames()
            frames[t : t + len(block), : block.shape[1]] = block
            t += len(block)
        frames.flush()
        del frames

    atomic_write(out / FRAMES, fill)

    lengths = np.concatenate([s.lengths for s in opened])
    labels = np.concatenate([s.labels for s in opened])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    _write_npy(out / INDEX, np.stack([starts, lengths], axis=1).astype(np.int64))
    _write_npy(out / LABELS, labels.astype(np.int64))
    rows = [r for s in opened for r in s.rows]
    atomic_write_text(out / META, "".join(_dumps(r) + "\n" for r in rows))

    splits, skipped_protocols = _split_protocols(reader, rows)
    split_dir = out / SPLITS_DIR
    shutil.rmtree(split_dir, ignore_errors=True)
    split_dir.mkdir()
    for protocol, parts in splits.items():
        _write_json(split_dir / f"{protocol}.json", parts)

    labelled = labels[labels >= 0]
    if labelled.size and reader.classes and labelled.max() >= len(reader.classes):
        raise SkelrecError(f"{reader.name} reader bug: label {labelled.max()} but only {len(reader.classes)} classes")
    info = {
        "format": CACHE_FORMAT,
        "skelrec_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset": reader.name,
        "raw": manifest["raw"],
        "options": manifest["options"],
        "layout": reader.layout,
        "fps": reader.fps,
        "classes": list(reader.classes),
        "samples": len(lengths),
        "frames": shape[0],
        "persons": shape[1],
        "joints": shape[2],
        "channels": shape[3],
        "files": len(manifest["files"]),
        "labelled": len(labelled),
        "label_counts": _label_counts(labelled),
        "expected_samples": reader.expected_samples,
        "protocols": {p: {k: len(v) for k, v in parts.items()} for p, parts in splits.items()},
        "class_counts": {p: {k: _label_counts(labels[v]) for k, v in parts.items()} for p, parts in splits.items()},
        "skipped_protocols": skipped_protocols,
        "skipped_files": [f for s in opened for f in s.skipped],
        "reader_skips": dict(sum((Counter(s.skips) for s in opened), Counter())),
        "meta_columns": sorted({k for r in rows for k in r}),
        "seconds": round(time.monotonic() - started, 2),
    }
    fsync_dir(out)  # every file above is in place before info.json marks the cache complete
    _write_json(out / INFO, info)
    fsync_dir(out)
    return info


# -------------------------------------------------------------------------------------------------------------
# The entry point.
# -------------------------------------------------------------------------------------------------------------


def _clean_cache(out: Path) -> None:
    """Remove the files a cache consists of (``--force``), info.json first so the folder is never 'complete'."""
    for name in (INFO, FRAMES, INDEX, LABELS, META):
        (out / name).unlink(missing_ok=True)
    for name in (SPLITS_DIR, SHARDS_DIR):
        shutil.rmtree(out / name, ignore_errors=True)


def _options_json(options: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(_dumps(dict(sorted(options.items()))))


def _json_or_empty(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _existing_cache(out: Path, dataset: str, options: dict[str, Any], notes: list[str]) -> dict | None:
    """info.json of a complete, up-to-date cache at ``out`` (the run can stop), else None after cleaning up.

    A cache (complete or interrupted) of another dataset is an error rather than something to overwrite.
    """
    info = _json_or_empty(out / INFO)
    for found in (info, _json_or_empty(out / SHARDS_DIR / MANIFEST)):
        if found.get("dataset") not in (None, dataset):
            raise SkelrecError(
                f"{out}: holds a prepared {found['dataset']} cache, not {dataset}; "
                "choose another --out folder, or pass --force to replace it"
            )
    if not (out / INFO).is_file():
        return None
    if info.get("format") != CACHE_FORMAT:
        notes.append(f"rebuilt: the old cache had format {info.get('format')}, this skelrec writes {CACHE_FORMAT}")
    elif info.get("options") != options:
        notes.append(f"rebuilt: the old cache was prepared with options {info.get('options')}")
    else:
        shutil.rmtree(out / SHARDS_DIR, ignore_errors=True)  # left when killed just after info.json
        return info
    _clean_cache(out)
    return None


def prepare_dataset(
    dataset: str,
    raw: str | Path,
    out: str | Path,
    *,
    workers: int = 0,
    skip_bad: bool = False,
    force: bool = False,
    chunk_files: int | None = None,
    progress: bool | None = None,
    **reader_options: Any,
) -> PrepareReport:
    """Convert the dataset ``dataset`` found under ``raw`` into a prepared cache at ``out`` (see module docstring).

    Args:
        dataset: registered reader name (``skelrec prepare --help`` lists them).
        raw: folder holding the dataset's original files.
        out: cache folder (created).
        workers: reader processes; 0 = ``os.cpu_count()``, 1 = read in this process.
        skip_bad: list unreadable files in the report and ``info.json`` instead of stopping at the first.
        force: rebuild even when ``out`` already holds a complete cache.
        chunk_files: files per shard, the unit of resuming (default :data:`CHUNK_FILES`).
        progress: show the progress bar (default: when stderr is a terminal).
        **reader_options: passed to the reader (e.g. ``missing_list`` for NTU).

    Raises:
        DataFormatError: a file the reader rejects (unless ``skip_bad``), naming the file and line.
        SkelrecError: unknown dataset, missing folder, a folder without the dataset's files, no samples at all.
    """
    started = time.monotonic()
    raw, out = Path(raw), Path(out)
    chunk_files = CHUNK_FILES if chunk_files is None else chunk_files
    if chunk_files < 1:
        raise SkelrecError(f"chunk_files must be >= 1, got {chunk_files}")
    reader = get_reader(dataset, raw, **reader_options)
    options = _options_json({**reader_options, "skip_bad": skip_bad})
    notes: list[str] = []
    if out.exists() and not out.is_dir():
        raise SkelrecError(f"{out}: is a file; pass a folder for the cache to --out")
    if force:
        _clean_cache(out)
        notes.append("rebuilt (--force)")
    existing = _existing_cache(out, reader.name, options, notes)
    if existing is not None:
        return PrepareReport(out, existing, already_complete=True, seconds=time.monotonic() - started)

    files = [str(p) for p in reader.files()]
    if raw.resolve() in out.resolve().parents:  # never read the cache's own shards as data
        files = [f for f in files if out.resolve() not in Path(f).resolve().parents]
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": CACHE_FORMAT,
        "dataset": reader.name,
        "raw": str(raw.resolve()),
        "options": options,
        "chunk_files": chunk_files,
        "files": [_relative(Path(f), raw) for f in files],
    }
    shards_dir = out / SHARDS_DIR
    _start_or_resume(shards_dir, manifest)
    chunks = [files[i : i + chunk_files] for i in range(0, len(files), chunk_files)]
    rel_names = dict(zip(files, manifest["files"], strict=True))
    pending = [
        k for k, c in enumerate(chunks) if not _valid_shard(_shard_path(shards_dir, k), [rel_names[f] for f in c])
    ]
    reused = len(chunks) - len(pending)

    n_workers = (os.cpu_count() or 1) if workers == 0 else workers
    todo = [f for k in pending for f in chunks[k]]
    columns = ("files, {task.fields[samples]:,} samples",)
    progress_bar = make_progress(*columns, description="[bold]{task.description}", enabled=progress)
    with _read_all(reader, raw, reader_options, todo, n_workers) as results, progress_bar as bar:
        task = bar.add_task(f"prepare {reader.name}", total=len(files), samples=0)
        bar.update(task, completed=len(files) - len(todo))
        samples = 0
        for k in pending:
            builder = _ShardBuilder(chunks[k], rel_names.__getitem__)
            for result in _take(results, len(chunks[k])):
                builder.add(result, skip_bad)
                samples += len(result.samples)
                bar.update(task, advance=1, samples=samples)
            builder.write(_shard_path(shards_dir, k), get_layout(reader.layout).num_joints)
    info = _consolidate(reader, out, [_shard_path(shards_dir, k) for k in range(len(chunks))], manifest, started)
    shutil.rmtree(shards_dir, ignore_errors=True)
    return PrepareReport(out, info, reused_shards=reused, notes=notes, seconds=time.monotonic() - started)


def _relative(path: Path, raw: Path) -> str:
    """``path`` relative to the raw folder (as listed in the manifest and info.json), absolute if outside it."""
    try:
        return path.relative_to(raw).as_posix()
    except ValueError:
        return str(path.resolve())


def _start_or_resume(shards_dir: Path, manifest: dict[str, Any]) -> None:
    """Keep the shards of an interrupted run with the same manifest; otherwise start with an empty folder."""
    path = shards_dir / MANIFEST
    try:
        same = json.loads(path.read_text(encoding="utf-8")) == manifest
    except (OSError, json.JSONDecodeError):
        same = False
    if not same:
        shutil.rmtree(shards_dir, ignore_errors=True)
    shards_dir.mkdir(parents=True, exist_ok=True)
    remove_temporaries(shards_dir)
    if not same:
        _write_json(path, manifest)


def _take(it: Iterator[_FileResult], n: int) -> Iterable[_FileResult]:
    for _ in range(n):
        yield next(it)
