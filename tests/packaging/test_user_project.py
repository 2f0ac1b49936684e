"""A user's own Pulumi project, outside the checkout, using keyplane's components as the README
shows (`from keyplane.components import deploy_environment`), under the mock engine."""

from __future__ import annotations

import runpy
import shutil
import sys
from pathlib import Path

from keyplane.render import render
from tests.aws.support import KEY, REPO, bundled

#: The README's example program ("Using the components in your own Pulumi project").
PROGRAM = """\
from pathlib import Path

import pulumi

from keyplane.components import deploy_environment, stack_outputs
from keyplane.config import load_environment

env = load_environment(Path(__file__).parent / "environments" / f"{pulumi.get_stack()}.yaml")
for name, value in stack_outputs(deploy_environment(env)).items():
    pulumi.export(name, value)
"""


def readme_example() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Using the components in your own Pulumi project", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_shows_the_program_this_test_renders() -> None:
    assert readme_example() == PROGRAM


def test_a_project_outside_the_checkout_renders_with_the_components(tmp_path: Path) -> None:
    project = tmp_path / "acme-keys"
    (project / "environments").mkdir(parents=True)
    shutil.copy(REPO / "environments" / "dev.yaml", project / "environments" / "dev.yaml")
    (project / "Pulumi.yaml").write_text("name: acme-keys\nruntime: python\n")
    (project / "__main__.py").write_text(PROGRAM)
    assert not project.resolve().is_relative_to(REPO)

    def program() -> None:
        runpy.run_path(str(project / "__main__.py"), run_name="__main__")

    result = render(program, project="acme-keys", stack="dev")

    [environment] = [r for r in result.resources if r.type == "keyplane:aws:Environment"]
    assert environment.name == "dev"
    keys = {r.name for r in result.resources if r.type == KEY}
    assert keys >= {k.name for k in bundled()["dev"].keys}
    assert set(result.outputs["key_arns"]) == {k.name for k in bundled()["dev"].keys}
    # The components came from the keyplane namespace; no top-level `components` package exists.
    assert "components" not in sys.modules
