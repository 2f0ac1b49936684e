"""The Pulumi program: one stack per environment file (see README, "Stacks")."""
