"""Automatic database migrations on EKS, driven by RDS and Secrets Manager events."""

__version__ = "0.1.0"
