"""Layering: spaceport_shared imports without the heavy stage dependencies."""

import subprocess
import sys

HEAVY = ("torch", "pycolmap", "gsplat", "numba", "matplotlib", "boto3")


def test_shared_imports_without_heavy_dependencies():
    code = (
        "import sys, pkgutil, importlib, spaceport_shared\n"
        "for m in pkgutil.walk_packages(spaceport_shared.__path__, 'spaceport_shared.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(','.join(h for h in {HEAVY!r} if h in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
