"""Reading profile files: built-in names or paths, UTF-8 text, YAML without repeated keys.

Private helpers of :mod:`lifecircle.profile`. A plain name (letters, digits, ``_``, ``-``) is a
built-in profile unless a file of that name exists; anything else (``../profiles/x``) is a path
and is never looked up among the built-ins. The text must be UTF-8 (a GBK file is refused with
how to re-save it), and a key given twice is an error naming both lines (YAML forbids it, and
PyYAML would silently keep the last value).
"""

from __future__ import annotations

import difflib
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .errors import ProfileError


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with lifecircle.

    Returns
    -------
    list of str
        Profile names usable with :func:`load_profile`, e.g. ``"changning"``.
    """
    folder = resources.files("lifecircle") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


class DuplicateKeyError(yaml.YAMLError):
    pass


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (YAML forbids it)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(
                    f"the key {key!r} is given twice (lines {seen[key]} and {line}); "
                    "keep one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


#: Built-in profiles are looked up only by a plain name (no folders, no ``..``).
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


def read_profile_text(name_or_path: str | Path) -> tuple[str, str, Path]:
    path = Path(name_or_path)
    looks_like_name = _PROFILE_NAME.fullmatch(str(name_or_path)) is not None
    try:
        is_path = not looks_like_name or path.suffix in {".yaml", ".yml"} or path.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ProfileError(f"cannot use {_short(name_or_path)} as a profile: {exc.strerror}") from None
    if is_path:
        return _read_profile_file(path), str(path), path.resolve().parent
    resource = resources.files("lifecircle") / "profiles" / f"{name_or_path}.yaml"
    if not resource.is_file():
        close = difflib.get_close_matches(str(name_or_path), builtin_profiles(), n=1)
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}"
            f"{f' (did you mean {close[0]!r}?)' if close else ''}: give a YAML file path or "
            f"one of the built-in profiles: {', '.join(builtin_profiles())}"
        )
    return resource.read_text(encoding="utf-8"), f"built-in profile {name_or_path!r}", Path.cwd()


# PyYAML's parser words for the two commonest slips, in a planner's words.
_YAML_PROBLEMS = {
    "expected <block end>": "this line is indented differently from the lines above it",
    "mapping values are not allowed here": (
        "a ':' where none can be (a key on the line above without its ':', or a value "
        "containing ': ' without quotes)"
    ),
}


def yaml_problem(exc: yaml.YAMLError, source: str) -> str:
    """A YAML syntax error as a planner reads it: the file, line and column, and what to check."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return f"{source} is not valid YAML: {exc}"
    for parser_words, plain in _YAML_PROBLEMS.items():
        if problem.startswith(parser_words):
            problem = plain
    snippet = mark.get_snippet() if hasattr(mark, "get_snippet") else None
    context_mark = getattr(exc, "context_mark", None)
    started = (
        f" (in the block that starts at line {context_mark.line + 1})"
        if context_mark is not None and context_mark.line != mark.line
        else ""
    )
    return (
        f"{source} is not valid YAML, line {mark.line + 1}, column {mark.column + 1}: "
        f"{problem}{started}. Check the indentation there (spaces, not tabs; keys of one "
        "level start in the same column), the ':' after each key, and quotes around values "
        "that contain ': ' or ' #'"
        + (f"\n{snippet}" if snippet else "")
    )


def _read_profile_file(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ProfileError(f"profile {path} is a folder, not a YAML file") from None
    except FileNotFoundError:
        raise ProfileError(
            f"profile file {path} does not exist; built-in profiles: "
            f"{', '.join(builtin_profiles())}"
        ) from None
    except OSError as exc:  # e.g. a name too long for the file system
        raise ProfileError(
            f"cannot read the profile {_short(path)}: {exc.strerror or exc}; give the path of "
            "a YAML file or a built-in profile name"
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        guess = _guess_encoding(raw)
        raise ProfileError(
            f"profile {path} is not UTF-8 text{f' (it looks like {guess})' if guess else ''}: "
            "save it as UTF-8 (in Notepad: Save As → Encoding: UTF-8)"
        ) from None


def _short(text: str | Path, limit: int = 60) -> str:
    text = str(text)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}… ({len(text)} characters)"


def _guess_encoding(raw: bytes) -> str | None:
    try:
        raw.decode("gb18030")
        return "GBK/GB18030, as Chinese Windows saves it"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    return best.encoding.upper() if best is not None else None


# Steps pydantic adds to an error's location when a field accepts several forms (e.g.
# "function-after[_one_source(), LayerSource]", "list[...]"): internal names, not profile keys.
_VALIDATOR_STEP = re.compile(r"^[a-z][a-z-]*\[.*\]$")


def explain_validation(exc: ValidationError, source: str) -> str:
    """A planner's reading of a pydantic error: one line per problem, typos named as such.

    Locations are given as profile keys only; when a field accepts several forms (one source
    or a list of them), the complaints of the forms the profile did not use are left out.
    """
    problems: list[tuple[str, str, bool]] = []
    for error in exc.errors():
        keys = [str(p) for p in error["loc"]]
        where = ".".join(k for k in keys if not _VALIDATOR_STEP.match(k)) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (a typo?)"
        other_form = len(keys) > 0 and bool(_VALIDATOR_STEP.match(keys[-1]))
        problems.append((where, message, other_form and error["type"].endswith("_type")))
    named = [where for where, _, _ in problems]
    kept = [
        (where, message)
        for where, message, other_form in problems
        # "should be a valid list" beside a real problem inside the same field is noise
        if not (other_form and sum(w == where or w.startswith(f"{where}.") for w in named) > 1)
    ]
    lines = [f"{source} has {len(kept)} problem(s):"]
    lines += [f"  - {where}: {message}" for where, message in kept]
    return "\n".join(lines)


_ENV_NAME = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def where_paths_come_from(written: str, base_dir: Path) -> str:
    """What to do about a missing file: the variable its folder comes from, or the base folder."""
    variable = _ENV_NAME.search(written)
    if variable is not None:
        name = variable["name"]
        if os.environ.get(name):
            return f"The profile takes its folder from ${name}, set to {os.environ[name]}: check it"
        return (
            f"The profile takes its folder from the environment variable {name}, which is not "
            f"set (so {variable['default'] or 'nothing'} was used): set it to the folder that "
            f"holds the data, e.g. `export {name}=/path/to/data`, and run again"
        )
    return (
        "Check the path in the profile (relative paths resolve against "
        f"{base_dir}: the profile file's folder, or for a built-in profile the current folder)"
    )
