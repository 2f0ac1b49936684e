"""Operations on a live estate: the incident response of Policy §10 (`keyplane respond`) and the
restore tests of Policy §11 (`keyplane restore-test`).

- `plan`: the runbook as data, per cloud and key usage (pure).
- `aws`: the runbook carried out through boto3 (the audit's client set-up).
- `incident`: the incident record (JSON and Markdown).
- `restore`: the canary round trip of a backup key and its evidence record.
"""
