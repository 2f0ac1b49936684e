"""`keyplane pack build`: a pack folder that `pulumi policy publish` can ship and that starts on
its own, from its own requirements, judging as the checkout's pack does."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keyplane import __version__
from keyplane.cli.app import app
from keyplane.engines.crossguard.harness import CrossGuardPack
from keyplane.engines.crossguard.publish import PACK_DISTRIBUTIONS, pack_modules
from keyplane.locations import PACKAGE_DIR, policy_pack_dir
from keyplane.rules.catalog import Enforcement
from tests.packaging.support import git_selected_files, run, shared_build, uv, venv_python
from tests.policy.stacks import aws_stack, mutate
from tests.policy.test_pack import CONFIG

KEY_NAME = "acme-orders-db"


def build(folder: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["pack", "build", str(folder), *extra])
    return result.exit_code, result.output


def published_copy(pack: Path, target: Path) -> Path:
    """What a publish of `pack` ships, extracted into the empty folder `target`."""
    selection = pack.parent / f"{pack.name}-selection"
    shutil.copytree(pack, selection)
    target.mkdir()
    for relative in git_selected_files(selection):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(selection / relative, target / relative)
    return target


def test_the_readme_s_old_recipe_publishes_a_pack_without_keyplane(tmp_path: Path) -> None:
    """Why `pack build` exists: the pack folder's own .gitignore drops a copied keyplane."""
    pack = tmp_path / "keyplane-pack"
    shutil.copytree(policy_pack_dir(), pack, ignore=shutil.ignore_patterns("venv"))
    shutil.copytree(PACKAGE_DIR, pack / "keyplane", ignore=shutil.ignore_patterns("components"))
    shipped = published_copy(pack, tmp_path / "shipped")
    assert (shipped / "__main__.py").is_file()
    assert not (shipped / "keyplane").exists()


def test_the_built_pack_is_complete_for_publishing(tmp_path: Path) -> None:
    code, output = build(tmp_path / "pack")
    assert code == 0, output
    shipped = published_copy(tmp_path / "pack", tmp_path / "shipped")
    files = {p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file()}
    assert {"PulumiPolicy.yaml", "__main__.py", "requirements.txt", ".gitignore"} <= files
    vendored = {
        f"keyplane/{p.relative_to(PACKAGE_DIR).as_posix()}" for p in pack_modules().values()
    }
    assert vendored <= files
    assert "keyplane/engines/crossguard/pack.py" in files
    assert not any(f.startswith(("keyplane/components", "keyplane/cli")) for f in files)
    assert f"version: {__version__}" in (shipped / "PulumiPolicy.yaml").read_text()


def test_the_vendored_modules_import_only_what_requirements_txt_installs(tmp_path: Path) -> None:
    allowed = {*sys.stdlib_module_names, "keyplane", *PACK_DISTRIBUTIONS}
    # Installed with them: pulumi's gRPC and protobuf, pydantic's core.
    allowed |= {"grpc", "google", "pydantic_core"}
    imported: set[str] = set()
    for path in pack_modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported.add(node.module.split(".")[0])
    assert imported - allowed == set()
    code, _ = build(tmp_path / "pack")
    assert code == 0
    lines = (tmp_path / "pack" / "requirements.txt").read_text().splitlines()
    named = sorted(line.split("<")[0].split(">")[0] for line in lines if not line.startswith("#"))
    assert named == sorted(PACK_DISTRIBUTIONS.values())


def test_a_non_empty_folder_is_refused_unless_forced(tmp_path: Path) -> None:
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    code, output = build(folder)
    assert code == 2
    assert output.strip() == (
        f"{folder}: folder is not empty; give a new or empty folder, or --force to replace it"
    )
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    code, output = build(folder, "--force")
    assert code == 0, output
    assert not (folder / "notes.txt").exists() and (folder / "PulumiPolicy.yaml").is_file()
    # Nothing is left beside it: the folder was built next to it and renamed into place.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pack"]


def test_a_file_in_the_way_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "pack").write_text("")
    code, output = build(tmp_path / "pack")
    assert code == 2 and "is a file" in output


@pytest.mark.slow
def test_the_published_pack_starts_from_its_own_requirements_and_judges(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    code, output = build(tmp_path / "pack")
    assert code == 0, output
    shipped = published_copy(tmp_path / "pack", tmp_path / "shipped")

    def make_venv(folder: Path) -> None:
        run([uv(), "venv", "-q", "--python", sys.executable, folder / "venv"])
        run(
            [uv(), "pip", "install", "-q", "--python", venv_python(folder / "venv"),
             "-r", shipped / "requirements.txt"]
        )  # fmt: skip

    python = venv_python(shared_build(tmp_path_factory, "pack-venv", make_venv) / "venv")
    # Neither keyplane nor a cloud SDK is installed there: the pack runs from its vendored copy.
    probe = "import importlib.util as u; print(u.find_spec('keyplane'), u.find_spec('pulumi_aws'))"
    assert run([python, "-c", probe], cwd=tmp_path).stdout.split() == ["None", "None"]

    stack = mutate(aws_stack(), KEY_NAME, ["enableKeyRotation"], False)
    [key] = [r for r in stack if r.name == KEY_NAME]
    with CrossGuardPack(shipped, stack="prod", policy_config=CONFIG, python=str(python)) as pack:
        published = pack.analyze(key)
    with CrossGuardPack(stack="prod", policy_config=CONFIG) as pack:
        checkout = pack.analyze(key)
    assert [(f.rule, f.enforcement) for f in published] == [("KM-ROT-001", Enforcement.MANDATORY)]
    assert published == checkout
