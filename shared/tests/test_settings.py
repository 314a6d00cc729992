from dataclasses import dataclass
from typing import ClassVar

import pytest

from spaceport_shared.errors import SettingsError
from spaceport_shared.settings import (
    parse_assignments,
    parse_settings,
    setting,
    settings_help,
    settings_to_strings,
)


@dataclass(frozen=True)
class Example:
    steps: int = setting(7000, help="optimisation steps", min=1, max=100000)
    ssim_weight: float = setting(0.2, help="SSIM weight", min=0.0, max=1.0)
    backend: str = setting("auto", help="rasterizer", choices=("auto", "cuda", "cpu"))
    eval: bool = setting(True, help="evaluate")
    max_gaussians: int | None = setting(None, help="cap", min=1)


def test_strings_become_typed_values():
    s = parse_settings(
        Example,
        {
            "steps": "3000",
            "ssim_weight": "0.25",
            "backend": "cpu",
            "eval": "false",
            "max_gaussians": "500000",
        },
    )
    assert s == Example(
        steps=3000, ssim_weight=0.25, backend="cpu", eval=False, max_gaussians=500000
    )
    assert isinstance(s.steps, int) and isinstance(s.ssim_weight, float)


def test_defaults_fill_missing_keys_and_none_is_accepted_for_optional():
    s = parse_settings(Example, {"max_gaussians": "none"})
    assert s.steps == 7000 and s.max_gaussians is None


def test_whole_floats_are_accepted_as_ints_and_dashes_as_underscores():
    assert parse_settings(Example, {"steps": "1e3", "ssim-weight": "0"}).steps == 1000


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"stpes": "3"}, "Unknown setting 'stpes'"),
        ({"steps": "many"}, "'steps' must be a whole number"),
        ({"steps": "2.5"}, "'steps' must be a whole number"),
        ({"steps": "0"}, "'steps' must be at least 1"),
        ({"ssim_weight": "1.5"}, "'ssim_weight' must be at most 1.0"),
        ({"ssim_weight": "nan"}, "'ssim_weight' must be a finite number"),
        ({"backend": "tpu"}, "'backend' must be one of auto, cuda, cpu"),
        ({"eval": "maybe"}, "'eval' must be true or false"),
    ],
)
def test_bad_values_name_the_key(values, needle):
    with pytest.raises(SettingsError) as err:
        parse_settings(Example, values)
    assert needle in str(err.value)


def test_sagemaker_platform_keys_are_ignored():
    assert parse_settings(Example, {"sagemaker_region": '"eu-west-1"'}).steps == 7000


def test_json_numbers_and_booleans_are_accepted():
    s = parse_settings(Example, {"steps": 10, "eval": False})
    assert s.steps == 10 and s.eval is False


def test_round_trip_through_strings():
    s = Example(steps=12, ssim_weight=0.5, backend="cpu", eval=False, max_gaussians=None)
    assert parse_settings(Example, settings_to_strings(s)) == s


def test_assignments():
    assert parse_assignments(["a=1", "b = x=y"]) == {"a": "1", "b": " x=y"}
    with pytest.raises(SettingsError, match="key=value"):
        parse_assignments(["steps"])


def test_help_lists_every_setting():
    text = settings_help(Example)
    for name in ("steps", "ssim_weight", "backend", "eval", "max_gaussians"):
        assert name in text
    assert "one of auto|cuda|cpu" in text


@dataclass(frozen=True)
class WithPresets:
    PRESETS: ClassVar[dict[str, dict[str, str]]] = {"quick": {"steps": "10", "backend": "cpu"}}

    preset: str = setting("none", help="named values", choices=("none", "quick"))
    steps: int = setting(7000, help="optimisation steps", min=1)
    backend: str = setting("auto", help="rasterizer", choices=("auto", "cuda", "cpu"))


def test_a_preset_fills_its_values_and_explicit_values_win():
    assert parse_settings(WithPresets, {"preset": "quick"}) == WithPresets("quick", 10, "cpu")
    assert parse_settings(WithPresets, {"preset": "quick", "steps": "20"}).steps == 20
    assert parse_settings(WithPresets, {"preset": "none"}) == WithPresets()
    # the expanded settings read back as themselves (what a report or checkpoint records)
    chosen = parse_settings(WithPresets, {"preset": "quick", "steps": "20"})
    assert parse_settings(WithPresets, settings_to_strings(chosen)) == chosen


def test_an_unknown_preset_names_the_known_ones():
    with pytest.raises(SettingsError, match="'preset' must be one of none, quick, not 'slow'"):
        parse_settings(WithPresets, {"preset": "slow"})
