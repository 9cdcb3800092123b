"""Placeholder until the cloudformation extension lands."""


def install(sandbox):
    """Nothing yet."""
