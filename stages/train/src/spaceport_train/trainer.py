"""The optimisation loop: gsplat `simple_trainer`'s recipe on either rasterizer backend.

Per step: one training view, SH degree raised every `sh_degree_interval` steps, loss
(1 - w) L1 + w (1 - SSIM), Adam per parameter, means LR decaying exponentially to 1 %, then
`DefaultStrategy.step_post_backward` (after the optimizer step, as simple_trainer) densifies and
prunes. The view order and random backgrounds are derived from (seed, step) rather than drawn
from a running generator, so a resumed run sees exactly the views an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from gsplat.strategy import DefaultStrategy
from gsplat.strategy.ops import remove
from torch import Tensor

from spaceport_shared.metrics import log_metrics, progress_metrics
from spaceport_train.backend import rasterize
from spaceport_train.budget import eta_seconds, progress_fraction
from spaceport_train.checkpoint import (
    load_newest_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from spaceport_train.scene_data import SceneData, View
from spaceport_train.settings import TrainSettings
from spaceport_train.splats import colors_for, initial_splats, learning_rates, make_optimizers
from spaceport_train.ssim import ssim

log = logging.getLogger(__name__)

# A metric line at least this often (seconds) whatever `log_interval` says, and the first one
# soon after training starts, so a slow CPU run shows its progress and ETA within its first
# minute (a default brighton_beach run at load 15 took 25 s a step: 70 s to its first line).
LOG_EVERY_S = 30.0
FIRST_LOG_S = 10.0


class TrainingStoppedError(Exception):
    """A stop was requested (SIGTERM); the state was checkpointed at `step`."""

    def __init__(self, step: int, path: Path) -> None:
        super().__init__(f"stopped at step {step}, checkpoint {path}")
        self.step = step
        self.path = path


@dataclass
class EvalResult:
    psnr: float
    ssim: float
    renders: list[tuple[str, Tensor, Tensor]]  # (name, truth [H,W,3], render [H,W,3])


@dataclass
class TrainState:
    splats: torch.nn.ParameterDict
    optimizers: dict[str, torch.optim.Optimizer]
    scheduler: torch.optim.lr_scheduler.LRScheduler
    strategy: DefaultStrategy
    strategy_state: dict[str, Any]
    step: int = 0  # the next step to run
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, loss)
    evals: list[tuple[int, float]] = field(default_factory=list)  # (step, held-out PSNR)
    train_seconds: float = 0.0
    resumed_from: int | None = None
    ended_early_at: int | None = None  # the step the time budget stopped training at


def make_strategy(settings: TrainSettings) -> DefaultStrategy:
    return DefaultStrategy(
        prune_opa=settings.prune_opacity,
        grow_grad2d=settings.grow_grad2d,
        grow_scale3d=settings.grow_scale3d,
        refine_start_iter=settings.refine_start,
        refine_stop_iter=settings.refine_stop,
        reset_every=settings.reset_every,
        refine_every=settings.refine_every,
        absgrad=settings.absgrad,
    )


def build_state(
    settings: TrainSettings,
    scene: SceneData,
    device: torch.device,
    saved: dict[str, Any] | None = None,
) -> TrainState:
    """A fresh state from the SfM points, or `saved` (a `state_dict`) restored exactly.

    Optimizers, LR schedule and strategy are assembled the same way in both cases; a saved
    state then overwrites their contents (Adam moments, schedule position, strategy
    accumulators) and the RNG states.
    """
    if saved is None:
        torch.manual_seed(settings.seed)
        generator = torch.Generator().manual_seed(settings.seed)
        splats = initial_splats(scene.points, scene.colors, settings, generator, device)
    else:
        splats = torch.nn.ParameterDict(
            {k: torch.nn.Parameter(v.to(device)) for k, v in saved["splats"].items()}
        )
    optimizers = make_optimizers(splats, learning_rates(settings, scene.scene_scale))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(
        optimizers["means"], gamma=0.01 ** (1.0 / settings.steps)
    )
    strategy = make_strategy(settings)
    strategy.check_sanity(splats, optimizers)
    if saved is None:
        return TrainState(
            splats=splats,
            optimizers=optimizers,
            scheduler=scheduler,
            strategy=strategy,
            strategy_state=strategy.initialize_state(scene_scale=scene.scene_scale),
        )
    for name, opt in optimizers.items():
        opt.load_state_dict(saved["optimizers"][name])
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng_state(saved["rng"])
    return TrainState(
        splats=splats,
        optimizers=optimizers,
        scheduler=scheduler,
        strategy=strategy,
        strategy_state={
            k: v.to(device) if isinstance(v, Tensor) else v
            for k, v in saved["strategy_state"].items()
        },
        step=int(saved["step"]),
        history=list(saved["history"]),
        evals=list(saved["evals"]),
        train_seconds=float(saved["train_seconds"]),
        resumed_from=int(saved["step"]),
    )


def sh_degree_at(step: int, settings: TrainSettings) -> int:
    """simple_trainer's schedule: one SH degree more every `sh_degree_interval` steps."""
    return min(step // settings.sh_degree_interval, settings.sh_degree)


def job_fingerprint(settings: TrainSettings, scene: SceneData) -> dict[str, Any]:
    """What must match for a checkpoint to continue this job: settings and training views."""
    return {"settings": asdict(settings), "train_views": [v.name for v in scene.train]}


def state_dict(state: TrainState, settings: TrainSettings, scene: SceneData) -> dict[str, Any]:
    return {
        "fingerprint": job_fingerprint(settings, scene),
        "step": state.step,
        "splats": {k: v.detach().cpu() for k, v in state.splats.items()},
        "optimizers": {k: opt.state_dict() for k, opt in state.optimizers.items()},
        "scheduler": state.scheduler.state_dict(),
        "strategy_state": {
            k: v.detach().cpu() if isinstance(v, Tensor) else v
            for k, v in state.strategy_state.items()
        },
        "rng": rng_state(),
        "history": state.history,
        "evals": state.evals,
        "train_seconds": state.train_seconds,
    }


def view_for_step(step: int, n_views: int, seed: int) -> int:
    """A fresh permutation of the views every epoch, a pure function of (seed, step)."""
    epoch, offset = divmod(step, n_views)
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return int(torch.randperm(n_views, generator=gen)[offset])


def render_view(
    state: TrainState,
    view: View,
    sh_degree: int,
    settings: TrainSettings,
    backend: str,
    device: torch.device,
    background: Tensor | None = None,  # [3]
) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """The view rendered: colours [H, W, 3], alphas [H, W, 1] and gsplat's info dict."""
    s = state.splats
    colors, alphas, info = rasterize(
        backend,
        means=s["means"],
        quats=s["quats"],
        scales=torch.exp(s["scales"]),
        opacities=torch.sigmoid(s["opacities"]),
        colors=colors_for(s),
        viewmats=view.viewmat[None].to(device),
        Ks=view.K[None].to(device),
        width=view.width,
        height=view.height,
        sh_degree=sh_degree,
        packed=False,
        absgrad=settings.absgrad,
        rasterize_mode="antialiased" if settings.antialiased else "classic",
        backgrounds=None if background is None else background[None].to(device),
    )
    return colors[0], alphas[0], info


def image_loss(render: Tensor, truth: Tensor, ssim_weight: float) -> Tensor:
    l1 = (render - truth).abs().mean()
    if ssim_weight == 0.0:
        return l1
    s = ssim(render.permute(2, 0, 1)[None], truth.permute(2, 0, 1)[None])
    return (1.0 - ssim_weight) * l1 + ssim_weight * (1.0 - s)


def psnr(render: Tensor, truth: Tensor) -> float:
    mse = float(((render - truth) ** 2).mean())
    return 10.0 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def evaluate(
    state: TrainState,
    views: list[View],
    settings: TrainSettings,
    backend: str,
    device: torch.device,
) -> EvalResult:
    sh_degree = sh_degree_at(state.step, settings)
    psnrs, ssims, renders = [], [], []
    for view in views:
        render, _, _ = render_view(state, view, sh_degree, settings, backend, device)
        render = render.clamp(0.0, 1.0).cpu()
        target = view.image  # converted from 8-bit on each access: once per view
        psnrs.append(psnr(render, target))
        ssims.append(float(ssim(render.permute(2, 0, 1)[None], target.permute(2, 0, 1)[None])))
        renders.append((view.name, target, render))
    return EvalResult(psnr=sum(psnrs) / len(psnrs), ssim=sum(ssims) / len(ssims), renders=renders)


def cap_gaussians(state: TrainState, max_gaussians: int) -> None:
    """Prune the least opaque Gaussians above the cap (DefaultStrategy itself has none)."""
    n = len(state.splats["means"])
    if n <= max_gaussians:
        return
    opacities = state.splats["opacities"].detach()
    keep = torch.topk(opacities, max_gaussians).indices
    mask = torch.ones(n, dtype=torch.bool, device=opacities.device)
    mask[keep] = False
    remove(params=state.splats, optimizers=state.optimizers, state=state.strategy_state, mask=mask)


def background_for_step(step: int, settings: TrainSettings) -> Tensor | None:
    """The random background colour [3] of a step (a pure function of seed and step), if any."""
    if not settings.random_background:
        return None
    return torch.rand(3, generator=torch.Generator().manual_seed(settings.seed * 7_919 + step))


def train_step(
    state: TrainState, scene: SceneData, settings: TrainSettings, backend: str, device: torch.device
) -> Tensor:
    """One optimisation step (render, loss, Adam, LR schedule, densification, cap) on the view
    the step's number selects; advances `state.step`. Returns the loss, still on the device."""
    step = state.step
    view = scene.train[view_for_step(step, len(scene.train), settings.seed)]
    background = background_for_step(step, settings)
    render, _, info = render_view(
        state, view, sh_degree_at(step, settings), settings, backend, device, background
    )
    state.strategy.step_pre_backward(
        state.splats, state.optimizers, state.strategy_state, step, info
    )
    loss = image_loss(render, view.image.to(device), settings.ssim_weight)
    loss.backward()
    for optimizer in state.optimizers.values():
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    state.scheduler.step()
    state.strategy.step_post_backward(
        state.splats, state.optimizers, state.strategy_state, step, info, packed=False
    )
    cap_gaussians(state, settings.max_gaussians)
    state.step = step + 1
    return loss.detach()


def resume_or_start(
    settings: TrainSettings, scene: SceneData, checkpoint_dir: Path, device: torch.device
) -> TrainState:
    """The newest checkpoint of this same job, restored; otherwise a fresh state."""
    saved = load_newest_checkpoint(checkpoint_dir, map_location=device)
    if saved is not None and saved.get("fingerprint") != job_fingerprint(settings, scene):
        log.warning("ignoring checkpoints in %s: another job's (settings or images differ)",
                    checkpoint_dir)  # fmt: skip
        saved = None
    state = build_state(settings, scene, device, saved)
    if saved is not None:
        log.info("resumed from step %d", state.step)
    return state


def train(
    settings: TrainSettings,
    scene: SceneData,
    checkpoint_dir: Path,
    backend: str,
    device: torch.device,
    stop_requested: Callable[[], bool] = lambda: False,
    deadline_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainState:
    """Run the steps left, with metric lines, evaluations and checkpoints at their cadence.

    `deadline_s` (seconds on `clock`, counted from its zero: the stage's start) ends training
    early, cleanly, at the first step boundary past it; the caller then evaluates and exports.

    Losses stay on the device until a metric line or checkpoint needs them (reading one back
    every step would synchronise a GPU every step).
    """
    state = resume_or_start(settings, scene, checkpoint_dir, device)
    pending: list[tuple[int, Tensor]] = []  # (step, loss) not yet read back

    def read_losses() -> None:
        if pending:
            values = torch.stack([loss for _, loss in pending]).tolist()
            state.history.extend((step, v) for (step, _), v in zip(pending, values, strict=True))
            pending.clear()

    def checkpoint() -> Path:
        read_losses()
        return save_checkpoint(checkpoint_dir, state.step, state_dict(state, settings, scene))

    window_start, window_steps = time.perf_counter(), 0
    log_every_s = FIRST_LOG_S
    while state.step < settings.steps:
        if stop_requested():
            raise TrainingStoppedError(state.step, checkpoint())
        if deadline_s is not None and clock() >= deadline_s:
            log.warning("time budget reached: training ends at step %d of %d", state.step,
                        settings.steps)  # fmt: skip
            state.ended_early_at = state.step
            break
        started = time.perf_counter()
        pending.append((state.step + 1, train_step(state, scene, settings, backend, device)))
        state.train_seconds += time.perf_counter() - started
        window_steps += 1
        step = state.step
        elapsed = time.perf_counter() - window_start
        if step % settings.log_interval == 0 or step == settings.steps or elapsed >= log_every_s:
            read_losses()
            done = progress_fraction(step, settings.steps, clock(), deadline_s)
            eta = eta_seconds(step, settings.steps, state.train_seconds, clock(), deadline_s)
            log_metrics(
                step=step,
                loss=state.history[-1][1],
                gaussians=len(state.splats["means"]),
                steps_per_s=window_steps / max(elapsed, 1e-9),
                **progress_metrics(done, eta),
            )
            window_start, window_steps, log_every_s = time.perf_counter(), 0, LOG_EVERY_S
        if settings.eval_interval and step % settings.eval_interval == 0 and scene.test:
            result = evaluate(state, scene.test, settings, backend, device)
            state.evals.append((step, result.psnr))
            log_metrics(step=step, psnr=result.psnr, ssim=result.ssim)
        if step % settings.checkpoint_interval == 0 and step < settings.steps:
            checkpoint()
    read_losses()
    return state
