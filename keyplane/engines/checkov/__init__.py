"""checkov: the runner (its own isolated environment, the Terraform-plan form) and keyplane's
custom checks."""
