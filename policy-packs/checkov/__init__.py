"""keyplane's custom checkov checks (checkov's --external-checks-dir needs this file)."""
