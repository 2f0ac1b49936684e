"""The Pulumi program (`main: stacks/` in Pulumi.yaml): its logic is `keyplane.program.main`."""

from pathlib import Path

from keyplane.program import main

main(project_root=Path(__file__).resolve().parent.parent)
