"""Placeholder until the appsync extension lands."""


def install(sandbox):
    """Nothing yet."""
