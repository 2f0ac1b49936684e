"""Where keyplane's own files are, in a checkout and in an installed wheel; where a user's
stack config is.

keyplane ships four things beside its modules: the components (`keyplane.components`), the stack
program (`keyplane.program`), the CrossGuard policy pack and the checkov checks. In a checkout
they stay in the top-level folders users and Pulumi expect (`components/`, `stacks/`,
`policy-packs/keyplane/`, `policy-packs/checkov/`); the wheel carries them inside the package
(pyproject.toml, `[tool.hatch.build.targets.wheel]`):

    checkout                       wheel (site-packages)
    components/                    keyplane/components/     (checkout: symlink keyplane/components)
    policy-packs/keyplane/         keyplane/_bundled/policy-pack/
    policy-packs/checkov/          keyplane/_bundled/checkov/

A checkout is recognised by `pyproject.toml` and `policy-packs/` beside the package; anything
else is an installed keyplane and uses the bundled copies. Nothing here ever reads the
checkout's example stack files on behalf of an installed keyplane (`stack_config_file`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

#: The `keyplane` package folder.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Where the wheel carries the policy pack and the checkov checks.
BUNDLED_DIR = PACKAGE_DIR / "_bundled"
#: The project folder's stack config directory when its Pulumi.yaml does not name one.
DEFAULT_STACK_CONFIG_DIR = "stacks"


def checkout_root() -> Path | None:
    """The keyplane checkout this package runs from, or None for an installed keyplane."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "policy-packs").is_dir():
        return root
    return None


def policy_pack_dir() -> Path:
    """The CrossGuard policy pack folder (the one holding PulumiPolicy.yaml)."""
    root = checkout_root()
    return root / "policy-packs" / "keyplane" if root else BUNDLED_DIR / "policy-pack"


def checkov_checks_dir() -> Path:
    """keyplane's custom checkov checks (checkov's `--external-checks-dir`)."""
    root = checkout_root()
    return root / "policy-packs" / "checkov" if root else BUNDLED_DIR / "checkov"


def pack_default_estate(pack_dir: Path) -> Path | None:
    """The estate a pack judges with when its settings name none: the checkout's
    `environments/` for the checkout's own pack, none for any other copy of the pack (a bundled,
    built or published pack must not pick up whatever lies two folders above it)."""
    root = checkout_root()
    if root is not None and pack_dir.resolve() == (root / "policy-packs" / "keyplane").resolve():
        return root / "environments"
    return None


def project_layout(estate_dir: Path) -> tuple[Path, Path, Path]:
    """(project, stack config folder, program folder) of the estate's Pulumi project.

    The project is the estate folder's parent (`<project>/environments/`); its stack config
    folder is Pulumi.yaml's `stackConfigDir`, else `stacks/`; its program folder is `main` (the
    folder itself, or a file's folder), else the project.
    """
    project = estate_dir.resolve().parent
    config_dir = project / DEFAULT_STACK_CONFIG_DIR
    main_dir = project
    project_file = project / "Pulumi.yaml"
    if project_file.is_file():
        import yaml  # noqa: PLC0415 - only for projects that have a Pulumi.yaml

        try:
            data = yaml.load(project_file.read_text(), Loader=yaml.CSafeLoader)
        except yaml.YAMLError:
            data = None  # not ours to judge: the Pulumi CLI reports a broken project file
        named = data.get("stackConfigDir") if isinstance(data, dict) else None
        if isinstance(named, str) and named:
            config_dir = project / named
        main = data.get("main") if isinstance(data, dict) else None
        if isinstance(main, str) and main:
            main_dir = project / main
            if not main_dir.is_dir():
                main_dir = main_dir.parent
    return project, config_dir, main_dir


def stack_config_file(
    estate_dir: Path, environment: str, config_dir: Path | None = None
) -> Path | None:
    """The stack config of `environment` in the estate's Pulumi project, if it has one.

    `config_dir` (`--stack-config DIR`) names the folder outright; otherwise it is the
    project's (`project_layout`). Only the user's project is read, never keyplane's bundled
    example stacks: an installed gate judging `~/acme/environments` reads
    `~/acme/stacks/Pulumi.<env>.yaml` or nothing.
    """
    if config_dir is None:
        _, config_dir, _ = project_layout(estate_dir)
    path = config_dir / f"Pulumi.{environment}.yaml"
    return path if path.is_file() else None


def repository_root(start: Path | None = None) -> Path:
    """The root of the git checkout holding `start` (default: the working directory): the
    nearest folder with a `.git` entry (a folder, or a worktree's file); `start` itself when
    none has one. Reports give paths relative to it (SARIF's `%SRCROOT%`)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


@cache
def keyplane_import_root() -> Path:
    """A folder that holds the `keyplane` package and nothing else of keyplane's environment.

    checkov runs from its own environment and imports keyplane's pure modules from here
    (`KEYPLANE_ROOT`). In a checkout that is the checkout itself; an installed keyplane sits in
    site-packages beside pulumi and its `packaging>=26`, which must not reach checkov's path
    (checkov 3.3 pins `packaging<24`), so a private folder with a link to the package (a copy
    where links are not allowed) stands in for it, removed when this process exits.
    """
    root = checkout_root()
    if root is not None:
        return root
    shadow = Path(tempfile.mkdtemp(prefix="keyplane-import-root-"))
    atexit.register(shutil.rmtree, shadow, ignore_errors=True)
    try:
        (shadow / "keyplane").symlink_to(PACKAGE_DIR, target_is_directory=True)
    except OSError:
        shutil.copytree(
            PACKAGE_DIR,
            shadow / "keyplane",
            ignore=shutil.ignore_patterns("__pycache__", "components", "_bundled"),
        )
    return shadow
