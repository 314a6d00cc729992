"""Read the stage Dockerfiles the way `docker build` does, as far as the tests need.

Only the subset our Dockerfiles use: line continuations, comments, parser directives, FROM
stages, ENV, RUN, CMD and ENTRYPOINT in exec (JSON) or shell form. `dockerfile-parse` would add
a dependency for the same handful of lines and still not model ENTRYPOINT/CMD resetting.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STAGES = ("sfm", "train", "compress")
# The images `make build` makes: name -> (stage, build target or None for the final stage).
IMAGES = {
    "sfm": ("sfm", None),
    "compress": ("compress", None),
    "train-cpu": ("train", "cpu"),
    "train": ("train", "gpu"),
}


def dockerfile_path(stage: str) -> Path:
    return REPO_ROOT / "stages" / stage / "Dockerfile"


def target_stages(path: Path, target: str | None = None) -> list[Stage]:
    """The stages a `--target` build runs, in order (the last is the image); all without one."""
    found = stages(path)
    if target is None:
        return found
    by_name = {s.name: s for s in found}
    needed: list[Stage] = []

    def visit(stage: Stage) -> None:
        for dependency in [stage.base, *_from_stages(stage)]:
            if dependency in by_name and by_name[dependency] not in needed:
                visit(by_name[dependency])
        if stage not in needed:
            needed.append(stage)

    visit(by_name[target])
    return needed


def _from_stages(stage: Stage) -> list[str]:
    """Stages a stage reads from: COPY --from=X and RUN --mount=...,from=X,..."""
    names = []
    for instruction in stage.instructions:
        for word in instruction.value.split():
            if word.startswith("--from="):
                names.append(word.split("=", 1)[1])
            elif word.startswith("--mount="):
                for option in word.removeprefix("--mount=").split(","):
                    if option.startswith("from="):
                        names.append(option.split("=", 1)[1])
    return names


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ...
    value: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line where the instruction starts


@dataclass
class Stage:
    """One build stage: its FROM line and what follows it, up to the next FROM."""

    base: str
    name: str | None
    platform: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments (and parser directives) vanish, even inside a continuation
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].rstrip() if continued else stripped)
        if continued:
            continue
        logical = " ".join(part for part in pending if part)
        pending = []
        keyword, _, value = logical.partition(" ")
        result.append(Instruction(keyword.upper(), value.strip(), start))
    if pending:
        raise ValueError("the Dockerfile ends inside a line continuation")
    return result


def stages(path: Path) -> list[Stage]:
    found: list[Stage] = []
    args: dict[str, str] = {}
    for instruction in instructions(path.read_text()):
        if instruction.keyword == "FROM":
            words = instruction.value.split()
            platform = next(
                (w.split("=", 1)[1] for w in words if w.startswith("--platform=")), None
            )
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append(Stage(_expand(words[0], args), name, platform))
        elif not found:
            if instruction.keyword == "ARG":  # global ARGs parameterise FROM lines
                key, _, default = instruction.value.partition("=")
                args[key.strip()] = default.strip().strip('"')
        else:
            found[-1].instructions.append(instruction)
    return found


def _expand(word: str, args: dict[str, str]) -> str:
    for key, value in args.items():
        word = word.replace("${" + key + "}", value).replace("$" + key, value)
    return word


def command_form(value: str) -> list[str] | None:
    """The exec-form argv of CMD/ENTRYPOINT, or None for the shell form."""
    if not value.startswith("["):
        return None
    argv = json.loads(value)
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"not an exec-form command: {value}")
    return argv


@dataclass(frozen=True)
class ImageCommand:
    entrypoint: list[str]  # [] when none is set
    cmd: list[str]
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        """What `docker run <image> [args...]` executes: arguments replace CMD."""
        return [*self.entrypoint, *(args or self.cmd)]


def image_command(path: Path, target: str | None = None) -> ImageCommand:
    """ENTRYPOINT, CMD and ENV of the image's stage (`target`, else the last), as built.

    Both must be in exec form: a shell-form ENTRYPOINT drops SageMaker's arguments and signals.
    """
    final = target_stages(path, target)[-1]
    entrypoint: list[str] = []
    cmd: list[str] = []
    env: dict[str, str] = {}
    for instruction in final.instructions:
        if instruction.keyword in ("ENTRYPOINT", "CMD"):
            argv = command_form(instruction.value)
            if argv is None:
                raise ValueError(
                    f"{path}:{instruction.line}: {instruction.keyword} is in shell form; "
                    "use the exec (JSON) form"
                )
            if instruction.keyword == "ENTRYPOINT":
                entrypoint, cmd = argv, []  # setting ENTRYPOINT resets an inherited CMD
            else:
                cmd = argv
        elif instruction.keyword == "ENV":
            env.update(env_pairs(instruction.value))
    return ImageCommand(entrypoint, cmd, env)


def env_pairs(value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for word in shlex.split(value):
        key, sep, val = word.partition("=")
        if not sep:
            raise ValueError(f"ENV in the legacy 'KEY value' form is not supported: {value}")
        pairs[key] = val
    return pairs
