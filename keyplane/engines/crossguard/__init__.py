"""CrossGuard: the policy pack (`pack`, runs inside `pulumi preview`) and the harness that plays
the Pulumi engine over the analyzer protocol (`harness`)."""
