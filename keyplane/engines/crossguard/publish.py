"""`keyplane pack build DIR`: a self-contained CrossGuard pack folder, ready for
`pulumi policy publish`.

`pulumi policy publish` uploads the pack folder as a tarball that honours every `.gitignore`, and
the service then starts the pack from that tarball alone: whatever the folder does not hold (or
ignores) is missing. The checkout's pack folder finds keyplane two folders up, or in a copy its
own `.gitignore` excludes, so it cannot be published as it is. The built folder holds:

- `PulumiPolicy.yaml` (the pack's, with keyplane's version),
- `__main__.py`, which serves the pack from the keyplane copy beside it (never another one),
- `requirements.txt`: the third-party packages the pack imports, with keyplane's own version
  ranges (read from keyplane's metadata, so they are written once, in pyproject.toml),
- `keyplane/`: the keyplane modules the pack imports, found by following the import statements
  of `keyplane.engines.crossguard.pack` (including imports inside functions), and nothing else:
  no components, no cloud SDK,
- `.gitignore`: the pack's virtualenv and bytecode only.

The folder is built beside DIR and renamed into place, so DIR is either the old folder or the
complete new one.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from keyplane import __version__
from keyplane.locations import PACKAGE_DIR, policy_pack_dir
from keyplane.rules.registry import FAMILIES

#: The module the pack's `__main__.py` imports; the vendored copy is its import closure.
PACK_ENTRY_MODULE = "keyplane.engines.crossguard.pack"
#: The distributions the pack's modules import (import name -> distribution name); a test holds
#: the vendored modules to this list.
PACK_DISTRIBUTIONS = {
    "pulumi": "pulumi",
    "pulumi_policy": "pulumi-policy",
    "pydantic": "pydantic",
    "yaml": "pyyaml",
}
#: Never vendored: the pack must not need them (they load pulumi's cloud SDKs or the CLI).
NOT_VENDORED = ("keyplane.components", "keyplane.cli", "keyplane.program")

MAIN_PY = '''\
"""keyplane's CrossGuard policy pack, built by `keyplane pack build` (keyplane {version}).

keyplane's modules are vendored in ./keyplane; they come first on the path, so the pack judges
with exactly the rules it was built with, whatever else the pack's virtualenv holds.
"""

import sys
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(PACK_DIR))

from keyplane.engines.crossguard.pack import serve  # noqa: E402

serve(PACK_DIR)
'''

GITIGNORE = """\
# The pack's virtualenv and bytecode; keyplane/ (vendored) must stay: the pack needs it.
venv/
__pycache__/
*.pyc
"""

_VERSION_LINE = re.compile(r"^version:.*$", re.M)
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class PackBuildError(Exception):
    """The pack cannot be built; the message names the path and the fix."""


def _module_file(module: str) -> Path | None:
    """The source file of a keyplane module (`keyplane.a.b`), or None when there is none."""
    parts = module.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(module: str, source: Path) -> Iterable[str]:
    """Every keyplane module `source` (the file of `module`) imports, anywhere in it."""
    package = module if source.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(source.read_text(), filename=str(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            # `from keyplane.x import y` may name a submodule y.
            yield from (f"{target}.{alias.name}" for alias in node.names)


def pack_modules() -> dict[str, Path]:
    """The keyplane modules the pack imports (module name -> source file), parents included.

    Raises `PackBuildError` when the pack's imports reach a module it must not need.
    """
    found: dict[str, Path] = {}
    # The rule families are imported by name (`registry.load`), which no import statement shows.
    pending = ["keyplane", PACK_ENTRY_MODULE, *(f"keyplane.rules.{f}" for f in FAMILIES)]
    while pending:
        module = pending.pop()
        if module in found or not (module == "keyplane" or module.startswith("keyplane.")):
            continue
        source = _module_file(module)
        if source is None:
            continue  # a name imported from a module, not a module
        if module.startswith(NOT_VENDORED):
            raise PackBuildError(
                f"{source}: the pack imports {module}, which loads cloud SDKs or the CLI; "
                "keep the pack's modules free of it"
            )
        found[module] = source
        parent = module.rpartition(".")[0]
        if parent:
            pending.append(parent)
        pending.extend(_imported_modules(module, source))
    return found


def pack_requirements() -> list[str]:
    """`requirements.txt` lines: keyplane's own requirement of each of `PACK_DISTRIBUTIONS`."""
    try:
        declared = requires("keyplane") or []
    except PackageNotFoundError as err:
        raise PackBuildError(
            "keyplane's metadata is missing (run from an installed keyplane or `uv sync`)"
        ) from err
    wanted = set(PACK_DISTRIBUTIONS.values())
    lines: dict[str, str] = {}
    for requirement in declared:
        if ";" in requirement:  # extras and markers: not the pack's
            continue
        match = _REQUIREMENT_NAME.match(requirement)
        name = match.group(1).lower().replace("_", "-") if match else ""
        if name in wanted:
            lines[name] = requirement.strip()
    missing = wanted - set(lines)
    if missing:
        raise PackBuildError(
            f"keyplane's metadata does not require {', '.join(sorted(missing))}; "
            "add them to pyproject.toml's dependencies"
        )
    return [lines[name] for name in sorted(lines)]


def write_pack(folder: Path) -> None:
    """Write the pack's files into the empty folder `folder`."""
    source = policy_pack_dir()
    manifest = (source / "PulumiPolicy.yaml").read_text()
    (folder / "PulumiPolicy.yaml").write_text(
        _VERSION_LINE.sub(f"version: {__version__}", manifest, count=1)
    )
    (folder / "__main__.py").write_text(MAIN_PY.format(version=__version__))
    (folder / "requirements.txt").write_text(
        f"# What keyplane {__version__}'s CrossGuard pack imports (keyplane itself is in ./keyplane).\n"
        + "".join(f"{line}\n" for line in pack_requirements())
    )
    (folder / ".gitignore").write_text(GITIGNORE)
    for path in sorted(pack_modules().values()):
        target = folder / "keyplane" / path.relative_to(PACKAGE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def build_pack(destination: Path, *, force: bool = False) -> None:
    """Build the self-contained pack at `destination` (atomically: built beside it, renamed).

    Raises `PackBuildError` when `destination` is a file, or a non-empty folder without `force`.
    """
    if destination.exists() and not destination.is_dir():
        raise PackBuildError(f"{destination}: is a file; give a folder to build the pack in")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise PackBuildError(
            f"{destination}: folder is not empty; give a new or empty folder, or --force to "
            "replace it"
        )
    parent = destination.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{destination.name}.building-", dir=parent))
    try:
        write_pack(building)
        if destination.exists():
            # The old folder goes aside first: a rename cannot replace a non-empty folder.
            old = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old-", dir=parent))
            os.replace(destination, old / "pack")
            os.replace(building, destination)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(building, destination)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    # mkdtemp makes its folder private (0700); a pack folder is an ordinary one.
    destination.chmod(0o755)
