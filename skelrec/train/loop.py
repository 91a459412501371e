"""``train(cfg)``: the one training loop of skelrec.

It builds the data (:mod:`skelrec.datasets.torch_data`), the encoder (:mod:`skelrec.models`) and the method
(:data:`skelrec.ssl.METHODS`) from a :class:`~skelrec.config.TrainConfig`, then runs AdamW with a per-step warm-up +
cosine schedule, gradient clipping and mixed precision on CUDA, on one process or on the processes ``torchrun``
starts (DistributedDataParallel, gloo on CPU / nccl on CUDA; only rank 0 logs and writes files).

Resuming is exact: a run folder's newest ``checkpoints/step_*.pt`` (or ``resume=PATH``) restores weights, optimizer,
scheduler, scaler, every process's RNG states and the position in the epoch; data order and augmentations are pure
functions of (seed, epoch, sample), so a run killed at any step and resumed ends with the same weights, bit for bit
on CPU, as one that was never interrupted.

Run folder: ``config.yaml`` (resolved config), ``metrics.csv``, ``tensorboard/`` (optional), ``checkpoints/``
(resumable states) and ``encoder/`` (the exported encoder, a :mod:`skelrec.checkpoint` folder).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR

from skelrec.config import TrainConfig, config_diff, config_to_dict, save_config
from skelrec.datasets.torch_data import (
    ConcatPrepared,
    EpochBatchSampler,
    PreparedLike,
    build_dataset,
    build_loader,
    open_prepared,
)
from skelrec.errors import SkelrecError
from skelrec.ssl.base import InputSpec, Method, build_encoder_for, build_method
from skelrec.train.distributed import DistEnv, init_distributed
from skelrec.train.export import EXPORT_DIR, export_encoder
from skelrec.train.metrics import MetricsLog, Window
from skelrec.train.precision import Precision
from skelrec.train.schedule import warmup_cosine
from skelrec.train.state import (
    checkpoint_path,
    get_rng_state,
    latest_checkpoint,
    load_training_state,
    prune_checkpoints,
    save_training_state,
    seed_everything,
    set_rng_state,
)

__all__ = ["CONFIG_FILE", "RunResult", "Trainer", "train"]

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"


@dataclass
class RunResult:
    """What :func:`train` did.

    Attributes:
        run_dir: the run folder.
        step: optimizer steps done (including those before a resume).
        epoch: epochs done (fractional).
        loss: mean loss of the last logged window, over all processes (``nan`` if this call ran no step).
        checkpoint: the last training checkpoint (``None`` on processes other than rank 0).
        export_dir: the exported encoder folder (``None`` on processes other than rank 0).
        resumed_from: the checkpoint this call continued from, if any.
        method: the trained method (unwrapped, on the training device).
        rank: this process's rank.
    """

    run_dir: Path
    step: int
    epoch: float
    loss: float
    checkpoint: Path | None
    export_dir: Path | None
    resumed_from: Path | None
    method: Method
    rank: int = 0

    def describe(self) -> str:
        start = f" (resumed from {self.resumed_from})" if self.resumed_from else ""
        return (
            f"trained {self.step} steps ({self.epoch:.2f} epochs){start}, last loss {self.loss:.4f}\n"
            f"run folder: {self.run_dir}\nencoder:    {self.export_dir}"
        )


def train(cfg: TrainConfig, *, resume: str | Path | None = None, prepared: PreparedLike | None = None) -> RunResult:
    """Train ``cfg`` (see the module docstring); every process of a ``torchrun`` launch calls this.

    Args:
        cfg: the run's config.
        resume: a training checkpoint (``checkpoints/step_*.pt``) or a run folder to continue from; by default the
            run folder's newest checkpoint, if any.
        prepared: the training samples, instead of opening ``cfg.data.paths`` (any object with ``layout``,
            ``classes``, ``len`` and ``[i] -> Sample``).
    """
    env = init_distributed(cfg.run.device)
    try:
        trainer = Trainer(cfg, env, prepared)
        trainer.restore(resume)
        return trainer.fit()
    finally:
        env.shutdown()


class Trainer:
    """One training run on one process: built from the config, optionally restored, then :meth:`fit`."""

    def __init__(self, cfg: TrainConfig, env: DistEnv, prepared: PreparedLike | None = None) -> None:
        self.env = env
        seed_everything(cfg.run.seed)  # identical initial weights on every process
        prepared = open_prepared(cfg.data) if prepared is None else prepared
        if cfg.data.layout and prepared.layout != cfg.data.layout:
            prepared = ConcatPrepared([prepared], cfg.data.layout)
        self.cfg = cfg = replace(cfg, data=replace(cfg.data, layout=prepared.layout))
        self.spec = InputSpec(prepared.layout, cfg.data.clip_length, cfg.data.persons, cfg.data.channels)
        self.run_dir = Path(cfg.run.out_dir)

        self.loader = build_loader(
            build_dataset(cfg.data, train=True, seed=cfg.run.seed, prepared=prepared),
            batch_size=self._process_batch(len(prepared)),
            seed=cfg.run.seed,
            num_workers=cfg.run.num_workers,
            rank=env.rank,
            world_size=env.world_size,
            pin_memory=env.device.type == "cuda",
        )
        self.sampler: EpochBatchSampler = self.loader.batch_sampler  # type: ignore[assignment]
        self.steps_per_epoch = self.sampler.batches_per_epoch()
        self.total_steps = cfg.optim.epochs * self.steps_per_epoch
        self.stop_step = min(self.total_steps, cfg.run.max_steps or self.total_steps)

        encoder = build_encoder_for(self.spec, cfg.encoder.name, **cfg.encoder.kwargs)
        self.method = build_method(cfg.method.name, encoder, self.spec, **cfg.method.kwargs).to(env.device)
        opt = cfg.optim
        self.optimizer = torch.optim.AdamW(
            self.method.param_groups(opt), lr=opt.lr, betas=opt.betas, eps=opt.eps, weight_decay=opt.weight_decay
        )
        warmup = round(opt.warmup_epochs * self.steps_per_epoch)
        self.scheduler = LambdaLR(self.optimizer, warmup_cosine(self.total_steps, warmup, opt.min_lr / opt.lr))
        self.precision = Precision.for_run(opt.amp, env.device)
        self.step = self.epoch = self.batch_in_epoch = 0
        self.resumed_from: Path | None = None
        self.lr = opt.lr

    def _process_batch(self, samples: int) -> int:
        batch, world = self.cfg.optim.batch_size, self.env.world_size
        if batch % world:
            raise SkelrecError(
                f"optim.batch_size={batch} is the global batch: make it a multiple of the {world} processes"
            )
        if samples // world < batch // world:
            raise SkelrecError(
                f"{samples} training samples make no full batch of optim.batch_size={batch}; lower optim.batch_size"
            )
        return batch // world

    # ------------------------------------------------------------------------------------------------------------
    # Checkpoints.
    # ------------------------------------------------------------------------------------------------------------

    def restore(self, resume: str | Path | None = None) -> None:
        """Continue from ``resume`` (file or run folder) or the run folder's newest checkpoint; else seed afresh."""
        path = Path(resume) if resume is not None else latest_checkpoint(self.run_dir)
        if path is None:
            seed_everything(self.cfg.run.seed + self.env.rank)  # each process draws its own masks/noise
            return
        state = load_training_state(path)
        changed = config_diff(state["config"], self.cfg)
        if changed:
            log.warning("resuming %s with a changed config: %s", state["path"], "; ".join(changed))
        try:
            self.method.load_state_dict(state["model"])
        except RuntimeError as err:
            detail = " ".join(line.strip() for line in str(err).splitlines()[1:2]) or str(err)
            raise SkelrecError(
                f"{state['path']}: its weights do not fit this run's encoder/method ({detail}); "
                f"resume with the config it was trained with, or set another run.out_dir"
            ) from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when the checkpoint was written without fp16
            self.precision.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        if self.batch_in_epoch >= self.steps_per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        if len(state["rng"]) == self.env.world_size:
            set_rng_state(state["rng"][self.env.rank])
        else:
            log.warning(
                "checkpoint of %d processes resumed on %d: RNG reseeded", len(state["rng"]), self.env.world_size
            )
            seed_everything(self.cfg.run.seed + self.env.rank + self.step)
        self.resumed_from = Path(state["path"])
        log.info("resumed from %s at step %d (epoch %d, batch %d)", path, self.step, self.epoch, self.batch_in_epoch)

    def save(self) -> Path | None:
        """Write a training checkpoint of the current step (rank 0; every process contributes its RNG state)."""
        rng = self.env.all_gather(get_rng_state())
        if not self.env.is_main:
            return None
        state = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "model": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.scaler.state_dict(),
            "rng": rng,
            "config": config_to_dict(self.cfg),
        }
        path = save_training_state(checkpoint_path(self.run_dir, self.step), state)
        prune_checkpoints(self.run_dir, self.cfg.run.keep_checkpoints)
        return path

    # ------------------------------------------------------------------------------------------------------------
    # Training.
    # ------------------------------------------------------------------------------------------------------------

    def _wrap(self) -> nn.Module:
        if not self.env.distributed:
            return self.method
        ids = [self.env.device.index] if self.env.device.type == "cuda" else None
        return DistributedDataParallel(
            self.method, device_ids=ids, find_unused_parameters=self.method.find_unused_parameters
        )

    def _train_step(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """Forward, backward, clip, optimizer and scheduler step; returns the step's logs (``loss`` first)."""
        batch = {k: v.to(self.env.device, non_blocking=True) for k, v in batch.items()}
        self.lr = self.optimizer.param_groups[0]["lr"]
        with self.precision.autocast():
            out = model(batch)
        loss = out.get("loss") if isinstance(out, dict) else None
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise SkelrecError(f"method {self.cfg.method.name!r} must return {{'loss': scalar tensor, ...}}")
        logs = {"loss": float(loss.detach())} | {k: float(v) for k, v in out.items() if k != "loss"}
        if not math.isfinite(logs["loss"]):
            raise SkelrecError(
                f"step {self.step + 1}: the loss is {logs['loss']}; lower optim.lr, set optim.grad_clip "
                f"or optim.amp=none, and resume from the last checkpoint"
            )
        self.optimizer.zero_grad(set_to_none=True)
        scaler = self.precision.scaler
        scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip > 0:
            scaler.unscale_(self.optimizer)
            logs["grad_norm"] = float(nn.utils.clip_grad_norm_(self.method.parameters(), self.cfg.optim.grad_clip))
        scaler.step(self.optimizer)
        scaler.update()
        self.scheduler.step()
        self.step += 1
        self.batch_in_epoch += 1
        if self.batch_in_epoch == self.steps_per_epoch:
            self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        self.method.on_step_end(self.step)
        return logs

    def _report(self, metrics: MetricsLog, window: Window) -> float:
        """Write the window's means (averaged over processes) as one metrics row; returns the mean loss."""
        means = window.means()
        values = self.env.all_mean(torch.tensor(list(means.values()), dtype=torch.float64)).tolist()
        means = dict(zip(means, values, strict=True))
        metrics.write(self.step, self.epochs_done, self.lr, means, window.samples_per_s())
        window.reset()
        return means["loss"]

    @property
    def epochs_done(self) -> float:
        return self.epoch + self.batch_in_epoch / self.steps_per_epoch

    def _announce(self) -> None:
        trainable = sum(p.numel() for p in self.method.parameters() if p.requires_grad)
        log.info(
            "%s on %s: %d process(es) on %s, %s, %.2fM trainable parameters, %d steps/epoch, steps %d -> %d",
            self.cfg.method.name,
            self.cfg.encoder.name,
            self.env.world_size,
            self.env.device,
            self.precision.describe(),
            trainable / 1e6,
            self.steps_per_epoch,
            self.step,
            self.stop_step,
        )

    def _run_steps(self, model: nn.Module, metrics: MetricsLog) -> tuple[float, Path | None, int | None]:
        """Train up to ``stop_step``; returns the last logged loss, the last checkpoint and its step."""
        cfg, window, loss = self.cfg, Window(), math.nan
        saved, checkpoint = (self.step, self.resumed_from) if self.resumed_from else (None, None)
        while self.step < self.stop_step:
            self.sampler.set_epoch(self.epoch, self.batch_in_epoch)
            for batch in self.loader:
                logs = self._train_step(model, batch)
                window.add(logs, cfg.optim.batch_size)
                metrics.advance(self.step, logs["loss"], window.samples_per_s())
                if self.step % cfg.run.log_every == 0 or self.step == self.stop_step:
                    loss = self._report(metrics, window)
                if cfg.run.checkpoint_every and self.step % cfg.run.checkpoint_every == 0:
                    checkpoint, saved = self.save(), self.step
                if self.step >= self.stop_step:
                    break
        return loss, checkpoint, saved

    def fit(self) -> RunResult:
        """Train until the schedule (or ``run.max_steps``) ends, checkpoint, export the encoder (call after
        :meth:`restore`)."""
        cfg, main = self.cfg, self.env.is_main
        if main:
            save_config(cfg, self.run_dir / CONFIG_FILE)
            self._announce()
        model = self._wrap()
        model.train()
        metrics = MetricsLog(
            self.run_dir,
            total_steps=self.stop_step,
            start_step=self.step,
            enabled=main,
            tensorboard=cfg.run.tensorboard,
            progress=cfg.run.progress,
        )
        with metrics:
            loss, checkpoint, saved = self._run_steps(model, metrics)
        if saved != self.step:
            checkpoint = self.save()
        export = None
        if main:
            training = {"steps": self.step, "epochs": self.epochs_done, "seed": cfg.run.seed}
            training["processes"] = self.env.world_size
            export = export_encoder(self.run_dir / EXPORT_DIR, self.method, cfg, training)
        self.env.barrier()
        return RunResult(
            self.run_dir,
            self.step,
            self.epochs_done,
            loss,
            checkpoint if main else None,
            export,
            self.resumed_from,
            self.method,
            self.env.rank,
        )
