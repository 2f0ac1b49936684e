"""The mock-engine render records registrations as the engine would see them."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from keyplane.render import render
from keyplane.wire import SECRET_SIG, SIG_KEY


class Outer(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("keyplane:test:Outer", name, None, None)
        Inner(f"{name}-inner", pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


class Inner(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions) -> None:
        super().__init__("keyplane:test:Inner", name, None, opts)
        provider = aws.Provider(
            f"{name}-provider", region="eu-west-1", opts=pulumi.ResourceOptions(parent=self)
        )
        aws.kms.Key(
            f"{name}-key",
            description=pulumi.Output.secret("classified"),
            opts=pulumi.ResourceOptions(parent=self, protect=True, provider=provider),
        )
        self.register_outputs({})


def _program() -> None:
    Outer("outer")
    pulumi.export("answer", 42)


def test_urns_carry_the_whole_parent_type_chain_as_the_engine_builds_them() -> None:
    result = render(_program, project="proj", stack="dev")
    urns = {r.name: r.urn for r in result.registrations}
    assert urns["outer"] == "urn:pulumi:dev::proj::keyplane:test:Outer::outer"
    assert (
        urns["outer-inner"]
        == "urn:pulumi:dev::proj::keyplane:test:Outer$keyplane:test:Inner::outer-inner"
    )
    assert urns["outer-inner-key"] == (
        "urn:pulumi:dev::proj::keyplane:test:Outer$keyplane:test:Inner$aws:kms/key:Key::outer-inner-key"
    )
    key = next(r for r in result.resources if r.name == "outer-inner-key")
    assert key.parent == urns["outer-inner"]
    assert key.protect
    assert key.custom
    assert key.provider.startswith(
        "urn:pulumi:dev::proj::keyplane:test:Outer$keyplane:test:Inner$pulumi:providers:aws::outer-inner-provider::"
    )
    assert key.inputs["description"] == {SIG_KEY: SECRET_SIG, "value": "classified"}
    assert result.outputs == {"answer": 42.0}


def test_renders_are_independent() -> None:
    first = render(_program, project="proj", stack="dev")
    second = render(_program, project="proj", stack="prod")
    assert len(first.registrations) == len(second.registrations)
    assert all(r.urn.startswith("urn:pulumi:prod::") for r in second.registrations)
