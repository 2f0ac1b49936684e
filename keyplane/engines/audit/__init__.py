"""The live audit engine: judge what is deployed with the pack's own point-A rules.

- `aws.py`: collection (boto3 clients, paging, retries, what was read and what was refused);
  GCP and Azure collectors belong beside it, returning the same `judge.Collected`.
- `judge.py`: facts -> findings, cloud-neutral (point-A checks, audit-only evidence checks,
  unverifiable reads, exceptions).
- `evidence.py`: the evidence object filed with the findings (Proc §5, SOC 2 CC6.7).

The command is `keyplane.cli.audit`.
"""
