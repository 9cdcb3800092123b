"""Placeholder until the dynamodb extension lands."""


def install(sandbox):
    """Nothing yet."""
