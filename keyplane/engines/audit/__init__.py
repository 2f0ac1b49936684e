"""The live audit: collection from a cloud account and judgement with the point-A rules."""
