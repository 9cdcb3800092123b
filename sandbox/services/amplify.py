"""Placeholder until the amplify extension lands."""


def install(sandbox):
    """Nothing yet."""
