"""The traffic shift's decisions (module_utils/shift.py, filters of plugins/filter/shift.py): the
weighted layer's checks and defaults, the live weights, the records a step writes, the plan, a
step's record, a failed read's message; and amplify_domain_info's required_branches (Stubber)."""

from __future__ import annotations

import boto3
import pytest
from ansible.errors import AnsibleFilterError
from botocore.stub import Stubber

from ansible_collections.propie.rollback.plugins.filter import shift as f
from ansible_collections.propie.rollback.plugins.module_utils import shift
from ansible_collections.propie.rollback.plugins.modules import amplify_domain_info
from tests.unit.fakes import Exit, Fail, FakeAWSModule

DOMAIN = "prop-ie-app.com"
PREFIXES = ["", "www"]
LAYER = {"zone": DOMAIN, "record": "app.prop-ie-app.com", "type": "CNAME", "ttl": 60,
         "blue_value": "d111blue.cloudfront.net", "green_value": "d222green.cloudfront.net", "steps": [10, 50, 100]}
BLUE_ONLY = {"": "production", "www": "production"}
GREEN_ONLY = {"": "green", "www": "green"}
PREFIX = "Invalid rollback_weighted_layer (nothing was changed): "


def problems(**changes):
    layer = {k: v for k, v in dict(LAYER, **changes).items() if v is not ...}
    return shift.layer_problems(layer, DOMAIN, PREFIXES)


def live(blue, green):
    return shift.live_weights([{"set": {"Weight": str(blue)}}, {"set": {"Weight": str(green)}}])


def plan(mapping=None, layer=None, weights=None, decision=""):
    settled = shift.settle_layer(LAYER if layer is None else layer)
    return shift.shift_plan(mapping or BLUE_ONLY, PREFIXES, "green", layer=settled,
                            live=live(*weights) if weights else None, decision=decision)


# -- the weighted layer's settings --------------------------------------------------------------


def test_a_usable_layer_and_no_layer_have_no_problems():
    assert problems() == []
    assert shift.layer_problems({}, DOMAIN, PREFIXES) == []
    assert shift.layer_problems(None, DOMAIN, PREFIXES) == []
    # Only the required keys: the defaults (steps, identifiers) are fine.
    assert shift.layer_problems({k: LAYER[k] for k in ("zone", "record", "blue_value", "green_value")},
                                DOMAIN, PREFIXES) == []
    # Case and a trailing dot do not matter; the record may be the zone apex itself.
    assert problems(zone="Prop-IE-App.com.", record="APP.prop-ie-app.com.") == []
    assert shift.layer_problems(dict(LAYER, zone="example.org", record="example.org."), DOMAIN, PREFIXES) == []


@pytest.mark.parametrize("changes, expected", [
    ({"zone": ...}, ["zone is required (the Route 53 hosted zone of the record)"]),
    ({"zone": ""}, ["zone is required (the Route 53 hosted zone of the record)"]),
    ({"zone": None}, ["zone is required (the Route 53 hosted zone of the record)"]),
    ({"record": ...}, ["record is required (the weighted host name)"]),
    ({"record": "app.example.org"}, ["record app.example.org is not in zone prop-ie-app.com"]),
    # A suffix of the zone's text is not the zone: xprop-ie-app.com is another domain.
    ({"record": "app.xprop-ie-app.com"}, ["record app.xprop-ie-app.com is not in zone prop-ie-app.com"]),
    ({"record": "WWW.prop-ie-app.com."},
     ["record www.prop-ie-app.com is an Amplify-managed host name of prop-ie-app.com: Amplify routes it and it cannot"
      " be weighted; weight a host name your own CloudFront distributions or load balancers serve"]),
    ({"record": "prop-ie-app.com"},
     ["record prop-ie-app.com is an Amplify-managed host name of prop-ie-app.com: Amplify routes it and it cannot"
      " be weighted; weight a host name your own CloudFront distributions or load balancers serve"]),
    ({"blue_value": ...}, ["blue_value is required (what blue serves from)"]),
    ({"green_value": ""}, ["green_value is required (what green serves from)"]),
    ({"green_value": LAYER["blue_value"]}, ["blue_value and green_value are the same"]),
    ({"blue_identifier": "x", "green_identifier": "x"}, ["blue_identifier and green_identifier are the same"]),
    ({"green_identifier": "blue"}, ["blue_identifier and green_identifier are the same"]),
    ({"steps": []}, ["steps must be a non-empty list of whole percents, got []"]),
    ({"steps": "10,50,100"}, ["steps must be a non-empty list of whole percents, got 10,50,100"]),
    ({"steps": ["10", 100]}, ["steps must be a non-empty list of whole percents, got ['10', 100]"]),
    ({"steps": [10.5, 100]}, ["steps must be a non-empty list of whole percents, got [10.5, 100]"]),
    ({"steps": [True, 100]}, ["steps must be a non-empty list of whole percents, got [True, 100]"]),
    ({"steps": {"a": 100}}, ["steps must be a non-empty list of whole percents, got {'a': 100}"]),
    ({"steps": [50, 10, 100]}, ["steps must be strictly ascending percents from 1 to 100 ending at 100"
                                " (e.g. [10, 50, 100]), got [50, 10, 100]"]),
    ({"steps": [10, 10, 100]}, ["steps must be strictly ascending percents from 1 to 100 ending at 100"
                                " (e.g. [10, 50, 100]), got [10, 10, 100]"]),
    ({"steps": [0, 50, 100]}, ["steps must be strictly ascending percents from 1 to 100 ending at 100"
                               " (e.g. [10, 50, 100]), got [0, 50, 100]"]),
    ({"steps": [10, 50]}, ["steps must be strictly ascending percents from 1 to 100 ending at 100"
                           " (e.g. [10, 50, 100]), got [10, 50]"]),
    ({"steps": [50, 150]}, ["steps must be strictly ascending percents from 1 to 100 ending at 100"
                            " (e.g. [10, 50, 100]), got [50, 150]"]),
], ids=lambda v: repr(v)[:40] if isinstance(v, dict) else "")
def test_each_problem_is_named(changes, expected):
    assert problems(**changes) == expected


def test_every_problem_is_reported_at_once_in_order():
    layer = {"record": "www.prop-ie-app.com", "blue_value": "same", "green_value": "same", "steps": [100, 50]}
    assert shift.layer_problems(layer, "Prop-IE-App.com", PREFIXES) == [
        "zone is required (the Route 53 hosted zone of the record)",
        "record www.prop-ie-app.com is an Amplify-managed host name of Prop-IE-App.com: Amplify routes it and it"
        " cannot be weighted; weight a host name your own CloudFront distributions or load balancers serve",
        "blue_value and green_value are the same",
        "steps must be strictly ascending percents from 1 to 100 ending at 100 (e.g. [10, 50, 100]), got [100, 50]",
    ]
    assert shift.layer_problems(["zone"], DOMAIN, PREFIXES) == [
        "the weighted layer settings must be a dict (zone, record, blue_value, green_value, ...), got list"]


def test_amplify_host_names_are_the_apex_and_each_prefix():
    assert shift.amplify_host_names("Prop-IE-App.com.", ["", "www", "Beta"]) == [
        "prop-ie-app.com", "www.prop-ie-app.com", "beta.prop-ie-app.com"]


def test_the_settled_layer_has_the_defaults_and_keeps_what_is_given():
    minimal = {k: LAYER[k] for k in ("zone", "record", "blue_value", "green_value")}
    assert shift.settle_layer(minimal) == dict(minimal, type="CNAME", ttl=60, steps=[10, 50, 100],
                                               blue_identifier="blue", green_identifier="green")
    given = dict(LAYER, type="A", ttl=30, steps=[25, 100], blue_identifier="b", green_identifier="g")
    assert shift.settle_layer(given) == given
    # A key given as null takes its default.
    assert shift.settle_layer(dict(minimal, ttl=None, steps=None))["ttl"] == 60
    assert shift.settle_layer(dict(minimal, steps=None))["steps"] == [10, 50, 100]
    assert shift.settle_layer({}) == {} and shift.settle_layer(None) == {}
    # The defaults are not shared between calls.
    shift.settle_layer(minimal)["steps"].append(7)
    assert shift.settle_layer(minimal)["steps"] == [10, 50, 100]


# -- the live weights and the records a step writes ---------------------------------------------


def test_live_weights_from_the_route53_reads():
    assert live(90, 10) == {"found": True, "blue": 90, "green": 10, "percent": 10}
    assert live(1, 2) == {"found": True, "blue": 1, "green": 2, "percent": 67}
    assert live(0, 0) == {"found": True, "blue": 0, "green": 0, "percent": 0}
    # No records yet (an empty `set`), a registered loop result, a skipped read.
    assert shift.live_weights({"results": [{"set": {}}, {"set": {}}]}) == {
        "found": False, "blue": 0, "green": 0, "percent": 0}
    assert shift.live_weights({"results": [{"set": {}}, {"set": {"Weight": 100}}]})["percent"] == 100
    assert shift.live_weights([{"skipped": True}]) == {"found": False, "blue": 0, "green": 0, "percent": 0}
    assert shift.predicted_weights("50") == {"found": True, "blue": 50, "green": 50, "percent": 50}


def test_the_falling_record_is_written_first_and_a_revert_leaves_out_records_already_right():
    layer = shift.settle_layer(LAYER)
    up = shift.records_to_write(layer, 50, live(90, 10))
    assert [(r["side"], r["identifier"], r["value"], r["weight"]) for r in up] == [
        ("blue", "blue", "d111blue.cloudfront.net", 50), ("green", "green", "d222green.cloudfront.net", 50)]
    down = shift.records_to_write(layer, 0, live(50, 50))
    assert [(r["side"], r["weight"]) for r in down] == [("green", 0), ("blue", 100)]
    assert [r["side"] for r in shift.records_to_write(layer, 50, live(50, 50))] == ["blue", "green"]
    assert [(r["side"], r["weight"]) for r in shift.records_to_write(layer, 0, live(100, 10), revert=True)] == [
        ("green", 0)]
    assert shift.records_to_write(layer, 0, live(100, 0), revert=True) == []
    with pytest.raises(AnsibleFilterError, match="blue_identifier"):
        f.shift_records({"zone": DOMAIN}, 10, {})


# -- where the shift stands and what is left ----------------------------------------------------


def test_not_reached_runs_every_step():
    out = plan(weights=(100, 0))
    assert (out["on_green"], out["current"], out["reached"], out["resume_at"], out["plan"]) == (
        False, 0, False, -1, [10, 50, 100])
    assert out["summary"] == ("green has 0% of traffic now (weights blue=100 green=0); decision '';"
                              " steps to run: 10% 50% 100%")
    # No records at all yet: the same.
    assert plan(weights=None)["plan"] == [10, 50, 100]


def test_held_at_10_resumes_at_10_and_continue_accepts_it():
    out = plan(weights=(90, 10), decision="continue")
    assert (out["reached"], out["resume_at"], out["plan"]) == (True, 10, [10, 50, 100])
    assert out["summary"] == ("green has 10% of traffic now (weights blue=90 green=10); decision 'continue';"
                              " steps to run: 10% 50% 100% (10% accepted by continue)")


def test_held_at_50_never_drops_back_to_10():
    out = plan(weights=(50, 50))
    assert (out["current"], out["resume_at"], out["plan"]) == (50, 50, [50, 100])


def test_on_green_is_the_100_step_reached():
    out = plan(mapping=GREEN_ONLY, weights=(0, 100), decision="continue")
    assert (out["on_green"], out["current"], out["reached"], out["resume_at"], out["plan"]) == (
        True, 100, True, 100, [100])
    assert out["summary"].endswith("steps to run: 100% (100% accepted by continue)")
    # The domain decides: on green even if the weights say otherwise.
    assert plan(mapping=GREEN_ONLY, weights=(100, 0))["plan"] == [100]


def test_weights_at_100_with_the_domain_on_blue_switch_the_domain_at_100():
    out = plan(weights=(0, 100))
    assert (out["current"], out["reached"], out["resume_at"], out["plan"]) == (100, False, -1, [100])
    # A domain with only some prefixes on green is not on green.
    assert plan(mapping={"": "green", "www": "production"}, weights=(0, 100))["resume_at"] == -1


def test_weights_between_steps_are_where_a_rerun_resumes():
    assert plan(weights=(70, 30))["plan"] == [30, 50, 100]
    assert plan(layer=dict(LAYER, steps=[25, 100]), weights=(50, 50))["plan"] == [50, 100]


def test_amplify_only_is_one_step_at_100():
    out = shift.shift_plan(BLUE_ONLY, PREFIXES, "green", layer={}, live=None, decision="continue")
    assert (out["current"], out["reached"], out["resume_at"], out["plan"]) == (0, False, -1, [100])
    assert out["summary"] == ("green has 0% of traffic now; decision 'continue'; steps to run: 100%"
                              " (nothing was held: continue changes nothing, every step is gated)")
    done = shift.shift_plan(GREEN_ONLY, PREFIXES, "green")
    assert (done["on_green"], done["resume_at"], done["plan"]) == (True, 100, [100])


def test_abort_says_it_aborts():
    assert plan(weights=(90, 10), decision="abort")["summary"] == (
        "green has 10% of traffic now (weights blue=90 green=10); decision 'abort'; aborting")


def test_the_plan_filter_checks_its_inputs():
    out = f.FilterModule().filters()["shift_plan"](BLUE_ONLY, PREFIXES, "green", layer=shift.settle_layer(LAYER),
                                                   live=live(90, 10), decision=None)
    assert out["plan"] == [10, 50, 100] and "decision ''" in out["summary"]
    with pytest.raises(AnsibleFilterError, match="the domain mapping must be a dict, got list"):
        f.shift_plan(["www"], PREFIXES, "green")


# -- a step's record and its outcome ------------------------------------------------------------

GATE = {"changed": False, "decision": "healthy", "reasons": [], "triggers": [{"name": "5XX error rate"}],
        "evaluations": [{"elapsed": 0.1, "decision": "healthy"}], "window_end": "2026-11-30T03:05:00+00:00",
        "progress": "healthy", "api_calls": 1}


@pytest.mark.parametrize("decision, outcome", [
    ("healthy", "running"), ("alert", "held"), ("inconclusive", "held"), ("rollback", "abort")])
def test_the_gate_decides_the_outcome(decision, outcome):
    out = shift.step_record(dict(GATE, decision=decision), "50", layer=shift.settle_layer(LAYER), live=live(50, 50),
                            switch={"skipped": True, "changed": False})
    assert out["outcome"] == outcome
    assert out["step"] == {"percent": 50, "decision": decision, "weights": {"blue": 50, "green": 50}, "domain": {}}
    assert out["gate"] == {k: dict(GATE, decision=decision)[k]
                           for k in ("decision", "reasons", "triggers", "evaluations", "window_end")}
    assert out["live"] == live(50, 50)


def test_a_step_accepted_by_continue_records_no_gate():
    out = shift.step_record({"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}, 100,
                            layer={}, live=None, switch={"changed": False, "mapping": GREEN_ONLY})
    assert out["gate"] == {"decision": "healthy", "reasons": ["continued by decision"]}
    assert out["outcome"] == "running"
    # Amplify only: no weights; the domain switch's mapping is recorded.
    assert out["step"] == {"percent": 100, "decision": "healthy", "weights": {}, "domain": GREEN_ONLY}


def test_check_mode_predicts_the_weights_of_the_step():
    out = shift.step_record(GATE, 10, layer=shift.settle_layer(LAYER), live=live(100, 0), preview=True)
    assert out["live"] == {"found": True, "blue": 90, "green": 10, "percent": 10}
    assert out["step"]["weights"] == {"blue": 90, "green": 10}
    # Without a layer nothing is predicted.
    assert shift.step_record(GATE, 100, preview=True)["live"]["found"] is False


# -- a failed read of where the domain points ---------------------------------------------------


def test_a_failed_read_names_the_setting_to_fix():
    domain = {"msg": "Amplify app d1 has no domain association 'nope.example.com'; its domains: prop-ie-app.com",
              "domains_of_app": ["prop-ie-app.com"]}
    assert f.shift_read_failure(domain) == (
        "Amplify app d1 has no domain association 'nope.example.com'; its domains: prop-ie-app.com. Fix the domain"
        " name (traffic_shift_domain; for the playbooks: rollback_amplify_domain in the inventory); no traffic was"
        " moved")
    branch = {"msg": "Amplify app d1 has no branch 'gren' (its branches: green, production); ...",
              "missing_branches": ["gren"]}
    assert "Fix the green branch (traffic_shift_green_branch; for the playbooks: rollback_amplify_green_branch" \
        in f.shift_read_failure(branch)
    assert f.shift_read_failure({"msg": "Could not read domain x: throttled."}) == (
        "Could not read domain x: throttled; no traffic was moved")


# -- amplify_domain_info required_branches ------------------------------------------------------

APP = "d4cebxzd5u3ynb"
ASSOCIATION = {"domainAssociationArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/domains/%s" % (APP, DOMAIN),
               "domainName": DOMAIN, "enableAutoSubDomain": False, "domainStatus": "AVAILABLE", "statusReason": "",
               "subDomains": [{"subDomainSetting": {"prefix": "", "branchName": "production"}, "verified": True,
                               "dnsRecord": " CNAME d1"}]}
BRANCH = {"branchArn": "arn:aws:amplify:us-east-1:123456789012:apps/%s/branches/green" % APP, "branchName": "green",
          "description": "", "stage": "PRODUCTION", "displayName": "green", "enableNotification": False,
          "createTime": 0, "updateTime": 0, "environmentVariables": {}, "enableAutoBuild": False, "customDomains": [],
          "framework": "", "activeJobId": "1", "totalNumberOfJobs": "1", "enableBasicAuth": False, "ttl": "5",
          "enablePullRequestPreview": False}


@pytest.fixture
def amplify():
    client = boto3.client("amplify", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response("get_domain_association", {"domainAssociation": ASSOCIATION},
                          {"appId": APP, "domainName": DOMAIN})
        yield client, stub
        stub.assert_no_pending_responses()


def read_domain(client, **params):
    module = FakeAWSModule({"amplify": client}, dict(dict(app_id=APP, domain_name=DOMAIN, missing_ok=False,
                                                          required_branches=[]), **params))
    with pytest.raises((Exit, Fail)) as info:
        amplify_domain_info.do(module)
    return info.value


def test_required_branches_that_exist(amplify):
    client, stub = amplify
    stub.add_response("get_branch", {"branch": BRANCH}, {"appId": APP, "branchName": "green"})
    out = read_domain(client, required_branches=["green"])
    assert isinstance(out, Exit) and out.result["missing_branches"] == []
    assert out.result["domain"]["mapping"] == {"": "production"}


def test_a_missing_required_branch_fails_naming_it_and_the_apps_branches(amplify):
    client, stub = amplify
    stub.add_client_error("get_branch", "NotFoundException", "Branch not found.", 404,
                          expected_params={"appId": APP, "branchName": "gren"})
    stub.add_response("list_branches", {"branches": [dict(BRANCH), dict(BRANCH, branchName="production")]},
                      {"appId": APP, "maxResults": 50})
    out = read_domain(client, required_branches=["gren"])
    assert isinstance(out, Fail)
    assert out.result["msg"] == ("Amplify app %s has no branch 'gren' (its branches: green, production); a sub-domain"
                                 " of %s cannot point at a missing branch" % (APP, DOMAIN))
    assert out.result["missing_branches"] == ["gren"]
    assert "Fix the green branch (traffic_shift_green_branch" in f.shift_read_failure(out.result)


def test_a_missing_required_branch_with_missing_ok_is_reported(amplify):
    client, stub = amplify
    stub.add_client_error("get_branch", "NotFoundException", "Branch not found.", 404,
                          expected_params={"appId": APP, "branchName": "gren"})
    out = read_domain(client, required_branches=["gren"], missing_ok=True)
    assert isinstance(out, Exit) and out.result["missing_branches"] == ["gren"]


def test_without_required_branches_no_branch_is_read(amplify):
    client, _stub = amplify
    out = read_domain(client)
    assert isinstance(out, Exit) and "missing_branches" not in out.result
