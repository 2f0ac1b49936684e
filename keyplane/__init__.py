"""keyplane: a cryptographic key management policy as Pulumi components and guard rails."""

__version__ = "0.1.0"
