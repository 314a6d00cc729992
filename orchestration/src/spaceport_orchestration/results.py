"""A local run's top level: what a user opens first, above the stages' own folders.

OUT/scene.sog           the compressed model (a hard link to the compress stage's output)
OUT/georeference.json   how the model's ENU frame sits on the Earth (sfm's)
OUT/summary.json        each stage's status, time and figures, and where the files are
OUT/site/index.html     the results page (site/), `spaceport view OUT` serves it
OUT/sfm/ OUT/train/ OUT/compress/   the stages' own /opt/ml trees (local_run.py)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from spaceport_orchestration.local_run import RunSummary, StageLayout, _first
from spaceport_orchestration.site.page import SiteInputs, build_site
from spaceport_orchestration.stages import STAGES
from spaceport_shared.contract import FLIGHT_NAME, GEOREFERENCE_NAME, SOG_NAME
from spaceport_shared.report import REPORT_NAME

SUMMARY_NAME = "summary.json"
SUMMARY_FORMAT = "spaceport-summary/1"
SITE_DIR = "site"


def _place(src: Path | None, dest: Path) -> Path | None:
    """`dest` as a hard link (or copy) of `src`; removed when there is no `src`."""
    dest.unlink(missing_ok=True)
    if src is None or not src.is_file():
        return None
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
    return dest


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def publish_local(out: Path, summary: RunSummary | None = None) -> Path:
    """Write OUT's top level from whatever the stages left; returns the page's index.html."""
    out = Path(out)
    layouts = {stage: StageLayout(stage, out / stage) for stage in STAGES}
    reports: dict[str, dict[str, Any]] = {}
    for stage, layout in layouts.items():
        path = layout.output / REPORT_NAME
        if path.is_file():
            reports[stage] = json.loads(path.read_text())
    sfm_out = layouts["sfm"].output
    sog = _place(_first(layouts["compress"].output, "*.sog"), out / SOG_NAME)
    georef = _place(sfm_out / GEOREFERENCE_NAME, out / GEOREFERENCE_NAME)
    ply = _first(layouts["train"].output, "*.ply")
    flight_path = sfm_out / FLIGHT_NAME
    flight = json.loads(flight_path.read_text()) if flight_path.is_file() else None
    extras = layouts["train"].root / "output" / "data"  # the train stage's extras (SageMaker's)
    seconds = (
        {s: r.seconds for s, r in summary.results.items() if r.status == "ran"} if summary else {}
    )

    site = out / SITE_DIR
    report_files = {s: layouts[s].output / REPORT_NAME for s in reports}
    files = {SOG_NAME: sog, "scene.ply": ply, GEOREFERENCE_NAME: georef}
    summary_data = {
        "format": SUMMARY_FORMAT,
        "stages": {
            stage: {
                "status": summary.results[stage].status
                if summary and stage in summary.results
                else "done",
                "seconds": seconds.get(stage, report.get("timings_s", {}).get("total")),
                "report": _rel(report_files[stage], out),
                "metrics": report.get("metrics", {}),
                "warnings": report.get("warnings", []),
            }
            for stage, report in reports.items()
        },
        "files": {name: _rel(p, out) for name, p in files.items() if p is not None},
        "site": f"{SITE_DIR}/index.html",
    }
    (out / SUMMARY_NAME).write_text(json.dumps(summary_data, indent=2) + "\n")

    downloads = [
        (f"{label}", path, path.stat().st_size)
        for label, path in [
            ("compressed model (scene.sog)", sog),
            ("trained model (scene.ply)", ply),
            (GEOREFERENCE_NAME, georef),
            ("summary.json", out / SUMMARY_NAME),
        ]
        + [(f"{stage} report.json", p) for stage, p in report_files.items()]
        if path is not None
    ]
    inputs = SiteInputs(
        title=f"Spaceport result: {out.resolve().name}",
        reports=reports,
        flight=flight,
        sog=sog,
        sog_href=_rel(out / SOG_NAME, site),
        downloads=[(label, _rel(path, site), size) for label, path, size in downloads],
        curve=extras / "training_curve.png",
        renders=sorted((extras / "renders").glob("*.png")),
        seconds=seconds,
    )
    return build_site(inputs, site)
