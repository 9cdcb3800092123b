"""The unit tests' stand-in for AnsibleAWSModule, and what it raises instead of exiting."""

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


class FakeAWSModule:
    """Just enough of AnsibleAWSModule: params, check/diff mode, per-service (Stubber) clients, exits.

    `defaults` are the module's own option defaults, which `params` override. client() wraps the
    service's client in the module's retry policy, as AnsibleAWSModule does; with extra options
    (aws_config, as common.once_client asks) it gives the bare client, as boto3_conn does."""

    def __init__(self, clients, params, check_mode=False, defaults=None, diff=False):
        self._clients = clients
        self.params = dict(defaults or {}, **params)
        self.check_mode = check_mode
        self._diff = diff
        self.region = "us-east-1"
        self.warnings = []
        self.logs = []
        self.no_log_values = set()

    def raw_client(self, service):
        return self._clients[service]

    def client(self, service, retry_decorator=None, **extra):
        from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
        from ansible_collections.propie.rollback.plugins.module_utils.common import aws_retry

        raw = self.raw_client(service)
        return raw if extra else RetryingBotoClientWrapper(raw, retry_decorator or aws_retry)

    def fail_json(self, **kwargs):
        raise Fail(kwargs)

    def fail_json_aws(self, exception, msg=None, **kwargs):
        raise Fail(dict(msg="%s: %s" % (msg, exception), **kwargs))

    def exit_json(self, **kwargs):
        raise Exit(kwargs)

    def warn(self, text):
        self.warnings.append(text)

    def log(self, text):
        self.logs.append(text)


def stubbed_clients(services):
    """Yield (clients, stubs): one activated botocore Stubber per service; at the end every queued
    response must have been used (for pytest fixtures: ``yield from stubbed_clients(...)``)."""
    import boto3
    from botocore.stub import Stubber

    clients = dict((s, boto3.client(s, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"))
                   for s in services)
    stubs = dict((s, Stubber(c)) for s, c in clients.items())
    for stub in stubs.values():
        stub.activate()
    yield clients, stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()
