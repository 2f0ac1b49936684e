"""The Terraform-plan form of a Pulumi stack (for checkov and any Terraform-plan scanner)."""
