"""PKU-MMD streams for self-supervised pretraining: sliding crops over whole untrimmed sequences.

``skelrec prepare pku_mmd_streams --raw PATH/TO/PKU-MMD/v1 --out caches/pku_mmd_streams`` reads the same files as
:class:`~skelrec.datasets.pku.PkuMmdReader` (``.txt`` and ``.txt.xz``), but

* only the videos of the official **training** list of ``protocol`` (``xsub``: ``cross-subject.txt``, ``xview``:
  ``cross-view.txt``); a video of the validation list is never read, so pretraining cannot see evaluation data;
* every frame of a stream, action and non-action alike (label files are not needed);
* as unlabelled crops of ``crop_frames`` frames every ``crop_stride`` frames (the last crop ends at the stream's
  end; a shorter stream is one crop), both bodies, ``ntu25``. Crops without any tracked body are left out
  (``stats["empty"]``). Metadata: ``video``, ``view``, ``start``, ``end`` (frames ``[start, end)`` of the stream).

``stream_fraction`` keeps a deterministic part of those streams, chosen by stream (never by crop): the first
``round(stream_fraction * n)`` of the ``n`` training-list streams found, in the order of a permutation seeded with
``stream_seed`` (``numpy.random.default_rng``) of the streams sorted by video name. A larger fraction with the same
seed keeps a superset of a smaller one, so 0.25 is part of 1.0 (``benchmarks/ssl_cpu.py --pku-streams``).

The cache has no protocol of its own (every crop is training data): point ``data.paths`` at it with
``data.protocol: null`` (``pretrain/configs/mamp/pku_cpu.yaml``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from skelrec.datasets.base import Sample, register_dataset
from skelrec.datasets.pku import PkuMmdReader, pku_video, read_pku_split, read_pku_stream
from skelrec.errors import SkelrecError

__all__ = ["PkuMmdStreamReader"]


@register_dataset
class PkuMmdStreamReader(PkuMmdReader):
    """Sliding ``crop_frames``-frame crops over the training-list streams of PKU-MMD (module docstring).

    Args:
        root: the PKU-MMD folder (as for ``pku_mmd``; the split files must be found below it or in ``split_dir``).
        crop_frames: frames per crop.
        crop_stride: frames between the starts of consecutive crops.
        protocol: whose training list to read, ``xsub`` or ``xview``.
        stream_fraction: the part of the training-list streams to read, in (0, 1] (module docstring).
        stream_seed: the seed of the choice of streams.
        **options: ``skeleton_dir``, ``label_dir``, ``split_dir`` as for ``pku_mmd``.
    """

    name = "pku_mmd_streams"
    classes = ()
    protocols: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: str | Path,
        *,
        crop_frames: int = 120,
        crop_stride: int = 60,
        protocol: str = "xsub",
        stream_fraction: float = 1.0,
        stream_seed: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(root, unlabelled=True, **options)
        if not 0.0 < float(stream_fraction) <= 1.0:
            raise SkelrecError(f"pku_mmd_streams: stream_fraction must be in (0, 1], got {stream_fraction}")
        self.stream_fraction, self.stream_seed = float(stream_fraction), int(stream_seed)
        if crop_frames < 1 or crop_stride < 1:
            raise SkelrecError(
                f"pku_mmd_streams: crop_frames and crop_stride must be >= 1, got {crop_frames}, {crop_stride}"
            )
        if protocol not in PkuMmdReader.protocols:
            raise SkelrecError(f"pku_mmd_streams: protocol must be one of {', '.join(PkuMmdReader.protocols)}")
        self.crop_frames, self.crop_stride, self.protocol = crop_frames, crop_stride, protocol
        self.training = frozenset(read_pku_split(self._split_file(protocol))[0])

    @classmethod
    def detect(cls, path: Path) -> bool:
        """Never: a single PKU-MMD file is a ``pku_mmd`` file (this reader is a prepare-time view of the dataset)."""
        return False

    def accepts(self, path: Path) -> bool:
        return super().accepts(path) and pku_video(path) in self.training

    def files(self) -> list[Path]:
        """The training-list skeleton files, sorted by video; with ``stream_fraction < 1`` the seeded part of them."""
        found = super().files()
        keep = round(self.stream_fraction * len(found))
        if keep == len(found):
            return found
        if keep < 1:
            raise SkelrecError(
                f"pku_mmd_streams: stream_fraction {self.stream_fraction} of {len(found)} streams keeps none; "
                "use a larger fraction"
            )
        chosen = np.random.default_rng(self.stream_seed).permutation(len(found))[:keep]
        return [found[i] for i in sorted(chosen)]

    def read(self, path: Path) -> list[Sample]:
        video = pku_video(path)
        if video not in self.training:  # never read a file of the validation list, even when asked directly
            raise SkelrecError(f"{path}: {video} is not on the {self.protocol} training list; not read for pretraining")
        seq = read_pku_stream(path)  # (2, T, 25, 3)
        frames = seq.shape[1]
        starts = list(range(0, max(frames - self.crop_frames, 0) + 1, self.crop_stride))
        if starts[-1] + self.crop_frames < frames:
            starts.append(frames - self.crop_frames)
        samples = []
        for start in starts:
            end = min(start + self.crop_frames, frames)
            data = seq[:, start:end]
            if not data.any():
                self.skip("empty", f"{path}: frames [{start}, {end}) hold no tracked body; crop left out")
                continue
            meta = {"video": video, "view": video[-1], "start": start, "end": end, "source": str(path)}
            samples.append(Sample(data, self.layout, f"{video}_{start}-{end}", self.name, fps=self.fps, meta=meta))
        return samples
