"""What the unit tests' fake modules raise instead of exiting (module.exit_json / fail_json)."""

from __future__ import annotations


class Exit(Exception):
    """exit_json was called; `result` is what it was given."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


class Fail(Exception):
    """fail_json was called; `result` is what it was given (its msg is the message)."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result
