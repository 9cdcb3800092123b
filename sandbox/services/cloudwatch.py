"""Placeholder until the cloudwatch extension lands."""


def install(sandbox):
    """Nothing yet."""
