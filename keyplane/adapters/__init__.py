"""Adapters: native resource descriptions to facts (`keyplane.facts`).

`pulumi` reads Pulumi resource properties (CrossGuard, the offline preview, `keyplane scan`).
A Terraform-plan adapter (checkov) and a boto3 adapter (the live audit) read the same facts from
their sources; `common` holds what they share (IAM policy documents, durations).
"""
