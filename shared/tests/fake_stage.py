"""A minimal stage on the shared contract, run as a subprocess by the contract tests.

Its `mode` setting picks a behaviour: write files, fail with a user error, crash, or hang
(to be killed) after writing part of its output.
"""

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from spaceport_shared.entrypoint import StageSpec, stage_main
from spaceport_shared.errors import SpaceportError
from spaceport_shared.report import Report
from spaceport_shared.settings import setting


@dataclass(frozen=True)
class FakeSettings:
    mode: str = setting("ok", help="behaviour", choices=("ok", "user_error", "crash", "hang"))
    copies: int = setting(1, help="files to write", min=1, max=5)
    scale: float = setting(1.0, help="a float", min=0.0)
    verbose: bool = setting(False, help="a flag")


def run(settings: FakeSettings, input_dir: Path, output_dir: Path, **dirs: Path) -> Report:
    report = Report(stage="fake", version="0.0")
    text = "".join(p.read_text() for p in sorted(Path(input_dir).glob("*.txt")))
    with report.step("write"):
        for i in range(settings.copies):
            (output_dir / f"copy{i}.txt").write_text(text)
    if settings.mode == "user_error":
        raise SpaceportError("The input has no usable photos; add JPEG files and run again.")
    if settings.mode == "crash":
        raise RuntimeError("boom")
    if settings.mode == "hang":
        print("partial written", flush=True)
        time.sleep(60)
    for name, folder in dirs.items():
        (Path(folder) / f"{name}.txt").write_text(name)
    report.metrics["copies"] = settings.copies
    report.metrics["scale"] = settings.scale
    return report


KIND = sys.argv.pop(1)
SPEC = StageSpec(
    name="fake", kind=KIND, settings_cls=FakeSettings, run=run, description="a fake stage"
)

if __name__ == "__main__":
    sys.exit(stage_main(SPEC))
