"""The layering rules of ARCHITECTURE.md, checked on the source.

A stage imports spaceport_shared and never another stage; shared imports no stage; the
orchestration reaches the stages only through their console scripts (subprocesses).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "spaceport_shared": ROOT / "shared" / "src" / "spaceport_shared",
    "spaceport_synth": ROOT / "synth" / "src" / "spaceport_synth",
    "spaceport_sfm": ROOT / "stages" / "sfm" / "src" / "spaceport_sfm",
    "spaceport_train": ROOT / "stages" / "train" / "src" / "spaceport_train",
    "spaceport_compress": ROOT / "stages" / "compress" / "src" / "spaceport_compress",
    "spaceport_orchestration": ROOT / "orchestration" / "src" / "spaceport_orchestration",
    "spaceport_infra": ROOT / "infrastructure" / "src" / "spaceport_infra",
}
STAGES = {"spaceport_sfm", "spaceport_train", "spaceport_compress"}
ALLOWED = {
    "spaceport_shared": set(),
    # ground truth: its own geodesy and rotations, never the stage code it checks
    "spaceport_synth": {"spaceport_shared"},
    "spaceport_sfm": {"spaceport_shared"},
    "spaceport_train": {"spaceport_shared"},
    "spaceport_compress": {"spaceport_shared"},
    "spaceport_orchestration": {"spaceport_shared", "spaceport_synth"},
    # the CDK app reads the state machine's substitutions and bundles the start-job handler
    "spaceport_infra": {"spaceport_orchestration", "spaceport_shared"},
}


def imported_packages(source: Path) -> set[str]:
    found = set()
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_only_what_its_layer_allows(package):
    source = PACKAGES[package]
    if not source.is_dir():
        pytest.fail(f"{source} is missing")
    ours = {p for p in imported_packages(source) if p.startswith("spaceport_")} - {package}
    assert ours <= ALLOWED[package], f"{package} imports {sorted(ours - ALLOWED[package])}"


def test_stage_tests_do_not_import_other_stages():
    for stage in STAGES:
        tests = PACKAGES[stage].parents[1] / "tests"
        if tests.is_dir():
            others = (imported_packages(tests) & STAGES) - {stage}
            assert not others, f"{stage}'s tests import {sorted(others)}"
