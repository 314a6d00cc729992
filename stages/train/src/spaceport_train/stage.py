"""The train stage: COLMAP model + images in, trained splats (`scene.ply`) out.

`run` is the stage contract's one function; `cli.py` wraps it in the shared entrypoint.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from spaceport_shared.contract import IMAGE_NAMES_NAME
from spaceport_shared.errors import SpaceportError, StageTerminatedError
from spaceport_shared.metrics import log_metrics
from spaceport_shared.ply import write_ply
from spaceport_shared.report import Report
from spaceport_train import __version__
from spaceport_train.backend import configure_cpu_threads, resolve_backend
from spaceport_train.budget import plan
from spaceport_train.device_memory import device_memory_bytes
from spaceport_train.extras import save_side_by_side, save_training_curve
from spaceport_train.scene_data import SceneData, find_model_dir, load_scene, read_reconstruction
from spaceport_train.settings import TrainSettings
from spaceport_train.splats import export_model
from spaceport_train.trainer import TrainingStoppedError, evaluate, train

log = logging.getLogger(__name__)


@contextmanager
def _sigterm_flag() -> Iterator[threading.Event]:
    """While training, SIGTERM only sets a flag: the loop checkpoints, then stops cleanly."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def uploaded_names(input_dir: Path) -> dict[str, str]:
    """The SfM stage's internal image name -> the name the user uploaded the photo under
    (`image_names.json`); empty for a COLMAP model from elsewhere."""
    path = Path(input_dir) / IMAGE_NAMES_NAME
    if not path.is_file():
        return {}
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("%s is unreadable; cameras.json gives the model's image names only", path)
        return {}
    return {str(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {}


def cameras_json(scene: SceneData, photos: dict[str, str]) -> list[dict]:
    """Every camera at the working resolution, posed in the input (SfM output) frame; `photos`:
    `uploaded_names`, each camera's `photo` (its own name where the map has none)."""
    out = []
    for split, views in (("train", scene.train), ("test", scene.test)):
        for view in views:
            k = view.K.numpy()
            out.append(
                {
                    "name": view.name,
                    "photo": photos.get(view.name, view.name),
                    "split": split,
                    "width": view.width,
                    "height": view.height,
                    "fx": float(k[0, 0]),
                    "fy": float(k[1, 1]),
                    "cx": float(k[0, 2]),
                    "cy": float(k[1, 2]),
                    "cam_from_world": np.asarray(view.cam_from_world).tolist(),
                }
            )
    return sorted(out, key=lambda c: c["name"])


def model_summary(input_dir: Path) -> tuple[tuple[int, int], int]:
    """The photos' size (the largest camera's, width, height) and the SfM point count."""
    rec = read_reconstruction(find_model_dir(Path(input_dir)))
    sizes = [(cam.width, cam.height) for cam in rec.cameras.values()] or [(1600, 1200)]
    return max(sizes, key=lambda wh: wh[0] * wh[1]), rec.num_points3D()


def run(
    settings: TrainSettings,
    input_dir: Path,
    output_dir: Path,
    *,
    checkpoint_dir: Path,
    extras_dir: Path,
) -> Report:
    started = time.perf_counter()

    def clock() -> float:  # seconds since the stage started: the time budget's clock
        return time.perf_counter() - started

    report = Report(stage="train", version=__version__)
    backend = resolve_backend(settings.backend)
    device = torch.device("cuda" if backend == "cuda" else "cpu")
    if backend == "cpu":
        configure_cpu_threads()
    with report.step("load"):
        memory = device_memory_bytes(backend)
        chosen = plan(settings, backend, *model_summary(Path(input_dir)), device_memory=memory)
        settings = chosen.settings
        log.info("settings: %s", chosen.reason)
        scene = load_scene(
            Path(input_dir), settings.max_image_size, settings.test_every, settings.holdout
        )
    if not scene.train:
        raise SpaceportError("No images are left for training after the hold-out; add photos.")
    log.info(
        "training on %d views (%dx%d), %d held out, %d initial points, backend %s",
        len(scene.train),
        scene.train[0].width,
        scene.train[0].height,
        len(scene.test),
        len(scene.points),
        backend,
    )
    with report.step("train"), _sigterm_flag() as stop:
        try:
            state = train(
                settings,
                scene,
                Path(checkpoint_dir),
                backend,
                device,
                stop.is_set,
                deadline_s=chosen.deadline_s,
                clock=clock,
            )
        except TrainingStoppedError as stopped:
            raise StageTerminatedError(
                f"Training was stopped (SIGTERM) at step {stopped.step} and checkpointed; "
                "run the job again to resume."
            ) from None

    if state.ended_early_at is not None:
        report.warn(
            f"The {settings.time_budget_min:g} min time budget ended training at step "
            f"{state.ended_early_at} of {settings.steps}; the model is less refined than planned."
        )
    eval_views = scene.test
    if not eval_views:
        report.warn("No held-out images (fewer than 2 photos): PSNR is measured on training views.")
        eval_views = scene.train
    with report.step("evaluate"):
        result = evaluate(state, eval_views, settings, backend, device)
    state.evals.append((state.step, result.psnr))
    gaussians = len(state.splats["means"])
    log_metrics(step=state.step, psnr=result.psnr, ssim=result.ssim, gaussians=gaussians)

    with report.step("export"):
        write_ply(Path(output_dir) / "scene.ply", export_model(state.splats, scene.normalization))
        (Path(output_dir) / "cameras.json").write_text(
            json.dumps({"cameras": cameras_json(scene, uploaded_names(input_dir))}, indent=1) + "\n"
        )
        extras = Path(extras_dir)
        save_side_by_side(extras / "renders", result.renders)
        save_training_curve(extras / "training_curve.png", state.history, state.evals)

    report.metrics = {
        "psnr": round(result.psnr, 4),
        "ssim": round(result.ssim, 5),
        "gaussians": gaussians,
        "steps": state.step,
        "steps_per_s": round(state.step / max(state.train_seconds, 1e-9), 3),
        "train_seconds": round(state.train_seconds, 2),
        "final_loss": round(state.history[-1][1], 6) if state.history else float("nan"),
    }
    report.details.update(
        {
            "backend": backend,
            "device": torch.cuda.get_device_name() if backend == "cuda" else "cpu",
            "resumed_from_step": state.resumed_from,
            "plan": chosen.details(),
            "train_views": len(scene.train),
            "test_views": len(scene.test),
            "resolution": [scene.train[0].width, scene.train[0].height],
            "initial_points": len(scene.points),
            "normalization": {
                "center": scene.normalization.center.tolist(),
                "scale": scene.normalization.scale,
            },
        }
    )
    return report
