"""A recipe's options: declared once, as config dataclass fields.

`option` declares a field with its help text, its `--smoke` value and its
constraints (`choices`, bounds, `unique`); `RecipeConfig.__post_init__`
checks every declared constraint (for the command line and for code that
builds a config directly alike), then the recipe's own cross-field
`validate()`. `parse_config` builds the argparse parser from the dataclass
(choices become argparse choices) and adds `--workdir` and `--smoke`;
`run_cli` runs a recipe's `train(config, workdir)` and turns a `RecipeError`
into a one-line message.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_NO_SMOKE_VALUE = object()


class RecipeError(Exception):
    """A problem the user can fix (missing data, a workdir made with other
    settings, a bad file). The CLI prints the message, without a traceback, and
    exits with status 2."""


def option(
    default: Any,
    help: str,
    *,
    smoke: Any = _NO_SMOKE_VALUE,
    resumable: bool = False,
    metavar: str | None = None,
    choices: Sequence[Any] | None = None,
    minimum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    maximum: float | None = None,
    unique: bool = False,
    check: Callable[[Any], None] | None = None,
) -> Any:
    """A config dataclass field with its CLI help and constraints.

    smoke: the value `--smoke` uses (tiny settings for tests).
    resumable: whether the field may differ between a run and its resume in the
        same workdir (e.g. the number of seeds: more seeds add new units);
        all other fields must match, or results of different settings would mix.
    choices, minimum (>=), above (>), below (<), maximum (<=): what a value
        (each value, for a tuple field) must be; float values must also be
        finite. None always passes (it means "the default" where allowed).
    unique: a tuple field must not list a value twice.
    check: a function of the value (not None) that raises ValueError naming
        the flag when the value is not allowed, for rules choices and bounds
        cannot say (e.g. "a name or an existing path").
    """
    metadata = {
        "help": help,
        "resumable": resumable,
        "metavar": metavar,
        "choices": None if choices is None else tuple(choices),
        "bounds": {
            name: value
            for name, value in (
                (">=", minimum), (">", above), ("<", below), ("<=", maximum)
            )
            if value is not None
        },
        "unique": unique,
        "check": check,
    }
    if smoke is not _NO_SMOKE_VALUE:
        metadata["smoke"] = smoke
    return dataclasses.field(default=default, metadata=metadata)


def fit_verbose_option(default: int = 0, **kwargs: Any) -> Any:
    """The `--fit-verbose` option every training recipe has."""
    return option(
        default,
        "verbosity of each fit (0 silent, 1 progress bar, 2 one line per "
        "epoch)",
        resumable=True,
        choices=(0, 1, 2),
        **kwargs,
    )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


_BOUND_CHECKS = {
    ">=": lambda value, bound: value >= bound,
    ">": lambda value, bound: value > bound,
    "<": lambda value, bound: value < bound,
    "<=": lambda value, bound: value <= bound,
}


def _requirement(field: dataclasses.Field) -> str:
    choices = field.metadata.get("choices")
    if choices is not None:
        return "one of " + ", ".join(map(str, choices))
    return " and ".join(
        f"{sign} {bound:g}" for sign, bound in field.metadata.get("bounds", {}).items()
    )


def _value_ok(field: dataclasses.Field, value: Any) -> bool:
    choices = field.metadata.get("choices")
    if choices is not None and value not in choices:
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return all(
        _BOUND_CHECKS[sign](value, bound)
        for sign, bound in field.metadata.get("bounds", {}).items()
    )


def check_options(config: Any) -> None:
    """ValueError naming the flag, what it must be and what it got, for the
    first field whose value breaks its declared constraints."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None:
            continue
        values = value if isinstance(value, tuple) else (value,)
        bad = [v for v in values if not _value_ok(field, v)]
        if bad:
            requirement = _requirement(field) or "a finite number"
            if isinstance(value, tuple):
                subject, shown = f"{_flag(field.name)} values", _show(value)
            else:
                subject, shown = _flag(field.name), repr(value)
            raise ValueError(f"{subject} must be {requirement}, got {shown}")
        if field.metadata.get("unique") and len(set(values)) != len(values):
            raise ValueError(
                f"{_flag(field.name)} lists a value twice: {_show(value)}"
            )
        if field.metadata.get("check") is not None:
            field.metadata["check"](value)


@dataclasses.dataclass(frozen=True)
class RecipeConfig:
    """Base of every recipe config: fields every recipe has, and the checks
    of the declared constraints. Cross-field rules go in `validate()`."""

    seed: int = option(
        0, "base random seed (data order, initialisation, mixing)", resumable=True
    )

    def __post_init__(self):
        check_options(self)
        self.validate()

    def validate(self) -> None:
        """Rules that involve several fields (ValueError naming the flags)."""


def smoke_config(config_cls: type) -> Any:
    """The config with every field's `smoke` value (tiny settings for tests)."""
    return config_cls(**_smoke_values(config_cls))


def _smoke_values(config_cls: type) -> dict[str, Any]:
    return {
        f.name: f.metadata["smoke"]
        for f in dataclasses.fields(config_cls)
        if "smoke" in f.metadata
    }


def _argument_type(annotation: Any) -> tuple[type, bool]:
    """(element type, is a sequence) for int, float, str, bool, X | None and
    tuple[X, ...] annotations."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported config annotation {annotation!r}")
        return _argument_type(members[0])
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"use tuple[X, ...] in configs, not {annotation!r}")
        return _argument_type(args[0])[0], True
    if annotation in (int, float, str, bool):
        return annotation, False
    raise TypeError(f"unsupported config annotation {annotation!r}")


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) if value else "(none)"
    return str(value)


def build_parser(
    config_cls: type, recipe: str, description: str | None = None
) -> argparse.ArgumentParser:
    """An argparse parser with one flag per config field plus the common flags.

    Config flags default to argparse.SUPPRESS so that the namespace holds only
    what the user typed; `parse_config` lays that over the defaults (or over
    the smoke settings with --smoke).
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m recipes.{recipe}",
        description=description or config_cls.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        element_type, is_sequence = _argument_type(hints[field.name])
        notes = []
        if field.default not in (None, ()):  # those are explained in the help
            notes.append(f"default: {_show(field.default)}")
        if "smoke" in field.metadata:
            notes.append(f"with --smoke: {_show(field.metadata['smoke'])}")
        help_text = field.metadata.get("help", "")
        if notes:
            help_text += f" ({'; '.join(notes)})"
        kwargs: dict[str, Any] = {
            "dest": field.name,
            "default": argparse.SUPPRESS,
            "help": help_text.replace("%", "%%"),
        }
        if element_type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = element_type
            choices = field.metadata.get("choices")
            if choices is not None:
                kwargs["choices"] = choices
            kwargs["metavar"] = field.metadata.get("metavar") or (
                "{" + ",".join(map(str, choices)) + "}"
                if choices is not None
                else element_type.__name__.upper()
            )
            if is_sequence:
                kwargs["nargs"] = "+"
        parser.add_argument(_flag(field.name), **kwargs)
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help=f"where config.json, history.csv, results and checkpoints go; "
        f"rerun with the same workdir to resume (default: runs/{recipe}, "
        f"or runs/{recipe}-smoke with --smoke)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny settings that run in seconds (for tests and a first try)",
    )
    return parser


@dataclasses.dataclass(frozen=True)
class Invocation:
    """What the command line asked for."""

    config: Any
    workdir: Path
    smoke: bool
    explicit: frozenset[str]  # config fields the user typed


def parse_config(
    config_cls: type,
    recipe: str,
    argv: Sequence[str] | None = None,
    description: str | None = None,
) -> Invocation:
    """Parse argv into a config; bad values end in a usage error (exit 2)."""
    parser = build_parser(config_cls, recipe, description)
    namespace = vars(parser.parse_args(argv))
    workdir = namespace.pop("workdir")
    smoke = namespace.pop("smoke")
    explicit = {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in namespace.items()
    }
    values = {**(_smoke_values(config_cls) if smoke else {}), **explicit}
    try:
        config = config_cls(**values)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    if workdir is None:
        workdir = Path("runs") / (f"{recipe}-smoke" if smoke else recipe)
    return Invocation(config, workdir, smoke, frozenset(explicit))


def command(
    recipe: str, config_cls: type, train: Callable[[Any, Path], Any],
    description: str | None = None,
) -> Callable[[Sequence[str] | None], Any]:
    """A recipe's `main(argv=None)`: `run_cli` with its recipe, config and
    train."""

    def main(argv: Sequence[str] | None = None) -> Any:
        return run_cli(recipe, config_cls, train, argv, description)

    main.__doc__ = f"python -m recipes.{recipe}: parse argv, train, report."
    return main


def run_cli(
    recipe: str,
    config_cls: type,
    train: Callable[[Any, Path], Any],
    argv: Sequence[str] | None = None,
    description: str | None = None,
) -> Any:
    """`python -m recipes.<recipe>`: parse, train, report user errors briefly."""
    invocation = parse_config(config_cls, recipe, argv, description)
    from recipes.lib import startup

    print(f"python -m recipes.{recipe}: {startup.runtime_summary()}", flush=True)
    try:
        return train(invocation.config, invocation.workdir)
    except RecipeError as error:
        print(f"python -m recipes.{recipe}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
