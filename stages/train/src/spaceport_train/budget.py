"""The settings left unset, chosen: gsplat's defaults, or what fits a time budget on a CPU.

A CPU trains some hundred times slower per step than a GPU, so gsplat's defaults (7,000 steps
at 1,600 px with up to 1M Gaussians) would take hours there. Given `time_budget_min`, `plan`
picks the largest working resolution at which enough steps fit, then the steps, the Gaussian
cap, the densification schedule and the SH degree, from a cost model of one training step
(`CostModel`: seconds as a linear function of pixels and Gaussians, fitted by
`bench/bench_train.py` on this machine class and kept in `spaceport_shared.cost_model`).
Settings given explicitly are kept and planned around. On a GPU the defaults stay; a budget
there only ends training early (no GPU cost model has been measured).

The plan is a pure function of the settings, the scene's image size and view count, and the
cost model, so a resumed job plans the same and its checkpoints match.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from spaceport_shared.cost_model import load_train_cost_model, train_step_seconds
from spaceport_train.device_memory import gaussian_cap
from spaceport_train.settings import TrainSettings

GSPLAT_DEFAULTS: dict[str, int] = {
    "steps": 7000,
    "max_image_size": 1600,
    "sh_degree": 3,
    "max_gaussians": 1_000_000,
    "refine_start": 500,
    "refine_stop": 15_000,
    "refine_every": 100,
}
PLANNED = tuple(GSPLAT_DEFAULTS)

# Longer image sides tried, largest first; below 320 px a model is a thumbnail.
SIZES = (1600, 1280, 1024, 800, 640, 480, 400, 320, 240, 160)
MIN_STEPS = 4000  # fewer leave the Gaussians blurry: brighton_beach, 30 min at load 15, 640 px
# planned 2179 steps, did 1216 (19.0 dB held out); 320 px with 1200 steps gave 20.3 dB
MAX_STEPS = 30_000  # gsplat's long schedule; more steps than this gain little
GAUSSIANS_PER_PIXEL = 0.6  # the cap: over-densifying small images costs time, not detail
MIN_CAP = 20_000
# Measured on brighton_beach at 320 px, 6,000 steps (README "Quality"): SH 1, 2 and 3 all
# 0.5 dB above SH 0 held out, 3 no better than 2 but ~20 % more time per step.
MAX_SH_DEGREE = 2
RESERVE_FRACTION = 0.15  # of the budget, kept for loading, evaluation, export and noise
RESERVE_S = 20.0


@dataclass(frozen=True)
class CostModel:
    """Seconds per training step on a CPU (`spaceport_shared.cost_model.train_step_seconds`)."""

    base_s: float
    per_megapixel_s: float
    per_million_gaussians_s: float
    per_megapixel_million_s: float = 0.0
    measured: str = ""

    def step_seconds(self, pixels: float, gaussians: float) -> float:
        return train_step_seconds(dataclasses.asdict(self), pixels, gaussians)


def load_cost_model() -> CostModel:
    return CostModel(**load_train_cost_model())


@dataclass(frozen=True)
class Plan:
    settings: TrainSettings  # every planned setting filled in
    chosen: dict[str, int]  # what the plan chose (settings that were left unset)
    reason: str  # one sentence for the log and the report
    estimated_train_s: float | None  # the cost model's estimate of the training steps
    deadline_s: float | None  # training must end this many seconds after the stage starts

    def details(self) -> dict[str, Any]:
        return {
            "time_budget_min": self.settings.time_budget_min,
            "chosen": self.chosen,
            "reason": self.reason,
            "estimated_train_s": self.estimated_train_s,
        }


def working_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """The image size `scene_data` will load at (downscaled to fit `max_size`, never up)."""
    scale = min(1.0, max_size / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def with_defaults(settings: TrainSettings) -> TrainSettings:
    """Every setting left unset at gsplat's default (what a run without a budget trains with)."""
    return _fill(settings, GSPLAT_DEFAULTS)[0]


def _fill(settings: TrainSettings, values: dict[str, int]) -> tuple[TrainSettings, dict[str, int]]:
    chosen = {k: v for k, v in values.items() if getattr(settings, k) is None}
    filled = dataclasses.replace(settings, **chosen)
    if filled.refine_stop < filled.refine_start:
        filled = dataclasses.replace(filled, refine_stop=filled.refine_start)
    return filled, chosen


def plan(
    settings: TrainSettings,
    backend: str,
    image_size: tuple[int, int],  # the photos' full size (width, height)
    initial_points: int,
    cost: CostModel | None = None,
    device_memory: int | None = None,  # bytes of the GPU (`device_memory.py`); None on a CPU
) -> Plan:
    budget_s = settings.time_budget_min * 60.0
    deadline = budget_s - max(RESERVE_S, RESERVE_FRACTION * budget_s) if budget_s else None
    if deadline is not None and deadline <= 0:
        deadline = 0.5 * budget_s
    if not budget_s or backend != "cpu":
        defaults, memory_note = GSPLAT_DEFAULTS, ""
        if device_memory and settings.max_gaussians is None:
            size = settings.max_image_size or GSPLAT_DEFAULTS["max_image_size"]
            cap = gaussian_cap(device_memory, math.prod(working_size(*image_size, size)))
            defaults = {**GSPLAT_DEFAULTS, "max_gaussians": max(MIN_CAP, cap)}
            memory_note = (
                f", up to {defaults['max_gaussians']} Gaussians for the device's "
                f"{device_memory / 2**30:.1f} GiB"
            )
        filled, chosen = _fill(settings, defaults)
        reason = (
            "gsplat's defaults"
            + memory_note
            + (
                f"; training ends by {deadline:.0f} s to keep the {settings.time_budget_min:g} min "
                "budget (no GPU cost model)"
                if budget_s
                else ""
            )
        )
        return Plan(filled, chosen, reason, None, deadline)

    cost = cost or load_cost_model()
    longest = max(image_size)
    sizes = (
        [settings.max_image_size]
        if settings.max_image_size
        else [longest, *(size for size in SIZES if size < longest)]
    )
    for size in sizes:
        w, h = working_size(*image_size, size)
        pixels = w * h
        cap = settings.max_gaussians or max(MIN_CAP, round(GAUSSIANS_PER_PIXEL * pixels))
        # Densification grows from the SfM points towards the cap: about its mean on average.
        mean_gaussians = 0.5 * (min(initial_points, cap) + cap)
        step_s = cost.step_seconds(pixels, mean_gaussians)
        affordable = int(deadline / step_s)
        if affordable >= MIN_STEPS or size == sizes[-1]:
            break
    steps = settings.steps or max(1, min(MAX_STEPS, affordable))
    refine_every = settings.refine_every or GSPLAT_DEFAULTS["refine_every"]
    values = {
        "max_image_size": size,
        "steps": steps,
        "max_gaussians": cap,
        # gsplat's schedule as fractions of its 30k steps: grow from 500, stop at half way
        # (here 3/4: short runs need the growth longer), then only refine what exists.
        "refine_start": min(GSPLAT_DEFAULTS["refine_start"], steps // 10),
        "refine_stop": max(refine_every, int(0.75 * steps)),
        "refine_every": refine_every,
        "sh_degree": min(MAX_SH_DEGREE, steps // 3000),  # a degree needs ~1000 steps to be
        # learnt after the previous one, and few-step runs are better spent on the geometry
    }
    filled, chosen = _fill(settings, values)
    estimate = filled.steps * cost.step_seconds(
        *_pixels_and_mean(filled, image_size, initial_points)
    )
    w, h = working_size(*image_size, filled.max_image_size)
    reason = (
        f"{filled.steps} steps at {w}x{h} px with up to {filled.max_gaussians} "
        f"Gaussians: about {estimate / 60:.1f} min by the cost model "
        f"({step_s * 1e3:.0f} ms per step) within the {settings.time_budget_min:g} min budget"
    )
    if affordable < MIN_STEPS:
        reason += f"; only {affordable} steps fit even at {size} px"
    return Plan(filled, chosen, reason, round(estimate, 1), deadline)


def _pixels_and_mean(
    settings: TrainSettings, image_size: tuple[int, int], initial_points: int
) -> tuple[float, float]:
    w, h = working_size(*image_size, settings.max_image_size)
    cap = settings.max_gaussians
    return float(w * h), 0.5 * (min(initial_points, cap) + cap)


def progress_fraction(step: int, steps: int, elapsed_s: float, deadline_s: float | None) -> float:
    """How far training is: by steps, or by the clock where the deadline comes first."""
    by_steps = step / max(steps, 1)
    if deadline_s is None or deadline_s <= 0:
        return by_steps
    return max(by_steps, min(1.0, elapsed_s / deadline_s))


def eta_seconds(step: int, steps: int, train_s: float, elapsed_s: float, deadline_s: float | None):
    """Seconds of training left: steps left at the mean step time so far, capped by the deadline."""
    if step <= 0:
        return math.nan
    eta = (steps - step) * train_s / step
    if deadline_s is not None:
        eta = min(eta, max(0.0, deadline_s - elapsed_s))
    return eta
