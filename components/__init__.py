"""keyplane's Pulumi components, imported as `keyplane.components` (README, "Using the
components in your own Pulumi project").

`deploy_environment(env)` provisions one environment file on its cloud; the cloud classes are
`keyplane.components.aws.AwsEnvironment`, `keyplane.components.gcp.GcpEnvironment` and
`keyplane.components.azure.AzureEnvironment`. A cloud's SDK is imported only with its class.

In a checkout this folder is the top-level `components/`, reached as `keyplane.components` through
the symlink `keyplane/components`; the wheel maps it to `keyplane/components/` (pyproject.toml).
"""

from keyplane.components.environment import deploy_environment, stack_outputs

__all__ = ["deploy_environment", "stack_outputs"]
