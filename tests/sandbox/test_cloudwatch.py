"""CloudWatch in the sandbox: percentiles, metric math, alarm evaluation and SNS actions.

Everything goes through boto3 over HTTP; alarm evaluation is triggered with
POST /_sandbox/cloudwatch/evaluate-alarms.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.exceptions import ClientError

NS = "PropIE/Test"
DIMS = [{"Name": "App", "Value": "app1"}]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _minute(minutes_ago: int) -> dt.datetime:
    """The middle of a whole minute `minutes_ago` minutes back, away from bucket edges."""
    return _now().replace(second=30, microsecond=0) - dt.timedelta(minutes=minutes_ago)


def _put(cw, name: str, value: float | None = None, stamp: dt.datetime | None = None,
         dims=None, **extra) -> None:
    datum = {"MetricName": name, "Dimensions": DIMS if dims is None else dims, **extra}
    if value is not None:
        datum["Value"] = value
    if stamp is not None:
        datum["Timestamp"] = stamp
    cw.put_metric_data(Namespace=NS, MetricData=[datum])


def _stat_query(qid: str, name: str, stat: str = "Sum", period: int = 60,
                return_data: bool = False) -> dict:
    return {"Id": qid, "ReturnData": return_data, "MetricStat": {
        "Metric": {"Namespace": NS, "MetricName": name, "Dimensions": DIMS},
        "Period": period, "Stat": stat}}


def _evaluate(sandbox, *names: str) -> dict:
    body = {"alarm_names": list(names)} if names else {}
    return sandbox.control("POST", "cloudwatch/evaluate-alarms", body)


def _alarm(cw, name: str) -> dict:
    return cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


# ---------------------------------------------------------------------------
# Percentiles and published statistic forms
# ---------------------------------------------------------------------------

def test_percentiles_of_a_known_distribution(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    stamp = _minute(3)
    # 1..1000 once each, spread over several PutMetricData calls in one minute.
    for start in range(1, 1001, 150):
        _put(cw, "Latency", stamp=stamp, Values=[float(v) for v in range(start, min(start + 150, 1001))])
    out = cw.get_metric_statistics(
        Namespace=NS, MetricName="Latency", Dimensions=DIMS, StartTime=_now() - dt.timedelta(minutes=10),
        EndTime=_now(), Period=60, Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
        ExtendedStatistics=["p99", "p95", "p50", "p99.9", "p100"])
    [point] = out["Datapoints"]
    assert out["Label"] == "Latency"
    assert point["SampleCount"] == 1000 and point["Sum"] == 500500
    assert (point["Minimum"], point["Maximum"]) == (1, 1000)
    # nearest rank: the smallest value with at least X% of the samples at or below it
    assert point["ExtendedStatistics"] == {"p99": 990, "p95": 950, "p50": 500, "p99.9": 999, "p100": 1000}
    assert point["Timestamp"] == stamp.replace(second=0)  # buckets start on whole minutes


def test_values_with_counts_are_weighted_samples(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    _put(cw, "Latency", stamp=_minute(2), Values=[100.0, 400.0, 3500.0], Counts=[900.0, 95.0, 5.0])
    out = cw.get_metric_data(
        StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(),
        MetricDataQueries=[_stat_query("p99", "Latency", "p99", return_data=True),
                           _stat_query("p995", "Latency", "p99.5", return_data=True),
                           _stat_query("p996", "Latency", "p99.6", return_data=True),
                           _stat_query("n", "Latency", "SampleCount", return_data=True),
                           _stat_query("avg", "Latency", "Average", return_data=True)])
    values = {r["Id"]: r["Values"] for r in out["MetricDataResults"]}
    assert values == {"p99": [400.0], "p995": [400.0], "p996": [3500.0], "n": [1000.0],
                      "avg": [(90000 + 38000 + 17500) / 1000]}


def test_statistic_sets_give_percentiles_only_when_they_are_one_repeated_value(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    _put(cw, "Uniform", stamp=_minute(2),
         StatisticValues={"SampleCount": 4, "Sum": 40, "Minimum": 10, "Maximum": 10})
    _put(cw, "Spread", stamp=_minute(2),
         StatisticValues={"SampleCount": 4, "Sum": 20, "Minimum": 1, "Maximum": 9})
    kwargs = dict(Dimensions=DIMS, StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(),
                  Period=60, Statistics=["Average", "SampleCount"], ExtendedStatistics=["p90"])
    [uniform] = cw.get_metric_statistics(Namespace=NS, MetricName="Uniform", **kwargs)["Datapoints"]
    [spread] = cw.get_metric_statistics(Namespace=NS, MetricName="Spread", **kwargs)["Datapoints"]
    assert uniform["ExtendedStatistics"] == {"p90": 10.0}
    assert (spread["Average"], spread["SampleCount"]) == (5.0, 4.0)
    assert "ExtendedStatistics" not in spread


def test_negative_values_have_no_percentiles(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    _put(cw, "Delta", stamp=_minute(2), Values=[-5.0, 1.0, 2.0])
    [point] = cw.get_metric_statistics(
        Namespace=NS, MetricName="Delta", Dimensions=DIMS, StartTime=_now() - dt.timedelta(minutes=10),
        EndTime=_now(), Period=60, Statistics=["Minimum"], ExtendedStatistics=["p50"])["Datapoints"]
    assert point["Minimum"] == -5.0 and "ExtendedStatistics" not in point


def test_dimensions_must_match_exactly(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    _put(cw, "Requests", 5.0, _minute(2), dims=DIMS + [{"Name": "Branch", "Value": "main"}])
    _put(cw, "Requests", 7.0, _minute(2))
    [point] = cw.get_metric_statistics(
        Namespace=NS, MetricName="Requests", Dimensions=DIMS, StartTime=_now() - dt.timedelta(minutes=10),
        EndTime=_now(), Period=300, Statistics=["Sum"])["Datapoints"]
    assert point["Sum"] == 7.0


def test_statistics_errors_are_aws_errors(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    now = _now()
    with pytest.raises(ClientError) as err:
        cw.get_metric_statistics(Namespace=NS, MetricName="x", StartTime=now, EndTime=now - dt.timedelta(minutes=1),
                                 Period=60, Statistics=["Sum"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        cw.get_metric_statistics(Namespace=NS, MetricName="x", StartTime=now - dt.timedelta(days=2),
                                 EndTime=now, Period=60, Statistics=["Sum"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "exceeds the limit of 1,440" in err.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as err:
        cw.get_metric_statistics(Namespace=NS, MetricName="x", StartTime=now - dt.timedelta(hours=1),
                                 EndTime=now, Period=60, ExtendedStatistics=["p101"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        _put(cw, "Old", 1.0, now - dt.timedelta(days=15))
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_large_put_metric_data_is_stored_even_when_compressed(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    stamp = _minute(2)
    # Over 10 KiB, so botocore gzips the request body.
    data = [{"MetricName": "Bulk", "Dimensions": DIMS, "Timestamp": stamp,
             "Values": [float(v) for v in range(150)]} for _unused in range(10)]
    cw.put_metric_data(Namespace=NS, MetricData=data)
    [point] = cw.get_metric_statistics(
        Namespace=NS, MetricName="Bulk", Dimensions=DIMS, StartTime=_now() - dt.timedelta(minutes=10),
        EndTime=_now(), Period=60, Statistics=["SampleCount"], ExtendedStatistics=["p50"])["Datapoints"]
    assert point["SampleCount"] == 1500 and point["ExtendedStatistics"] == {"p50": 74.0}


# ---------------------------------------------------------------------------
# Metric math
# ---------------------------------------------------------------------------

def test_error_rate_math_per_timestamp_newest_first(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    for ago, requests, errors in ((3, 200.0, 2.0), (2, 400.0, 40.0), (1, 100.0, 25.0)):
        _put(cw, "Requests", requests, _minute(ago))
        _put(cw, "Errors", errors, _minute(ago))
    out = cw.get_metric_data(
        StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(),
        MetricDataQueries=[_stat_query("errors", "Errors"), _stat_query("requests", "Requests"),
                           {"Id": "rate", "Expression": "100*errors/requests", "Label": "5XX %"}])
    [rate] = out["MetricDataResults"]  # ReturnData=false queries are not returned
    assert (rate["Id"], rate["Label"], rate["StatusCode"]) == ("rate", "5XX %", "Complete")
    assert rate["Values"] == [25.0, 10.0, 1.0]
    assert rate["Timestamps"] == sorted(rate["Timestamps"], reverse=True)
    assert [t.replace(second=0) for t in rate["Timestamps"]] == rate["Timestamps"]
    ascending = cw.get_metric_data(
        StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(), ScanBy="TimestampAscending",
        MetricDataQueries=[_stat_query("errors", "Errors"), _stat_query("requests", "Requests"),
                           {"Id": "rate", "Expression": "100*errors/requests"}])
    assert ascending["MetricDataResults"][0]["Values"] == [1.0, 10.0, 25.0]
    assert ascending["MetricDataResults"][0]["Label"] == "rate"


def test_missing_operand_and_division_by_zero_give_no_value(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    _put(cw, "Requests", 100.0, _minute(3))
    _put(cw, "Errors", 5.0, _minute(3))
    _put(cw, "Requests", 100.0, _minute(2))  # no Errors datapoint in this minute
    _put(cw, "Requests", 0.0, _minute(1))
    _put(cw, "Errors", 0.0, _minute(1))
    out = cw.get_metric_data(
        StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(), ScanBy="TimestampAscending",
        MetricDataQueries=[_stat_query("errors", "Errors"), _stat_query("requests", "Requests", return_data=True),
                           {"Id": "rate", "Expression": "100*errors/requests"},
                           {"Id": "filled", "Expression": "100*FILL(errors, 0)/requests"}])
    by_id = {r["Id"]: r for r in out["MetricDataResults"]}
    assert by_id["requests"]["Values"] == [100.0, 100.0, 0.0]
    assert by_id["requests"]["Label"] == "Requests"
    assert by_id["rate"]["Values"] == [5.0]
    assert by_id["rate"]["Timestamps"] == [_minute(3).replace(second=0)]
    assert by_id["filled"]["Values"] == [5.0, 0.0]


def test_parentheses_precedence_and_array_functions(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    _put(cw, "A", 4.0, _minute(2))
    _put(cw, "B", 8.0, _minute(2))
    _put(cw, "A", 1.0, _minute(1))
    out = cw.get_metric_data(
        StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(), ScanBy="TimestampAscending",
        MetricDataQueries=[_stat_query("a", "A"), _stat_query("b", "B"),
                           {"Id": "mean", "Expression": "(a+b)/2"},
                           {"Id": "prec", "Expression": "a+b*2-1"},
                           {"Id": "neg", "Expression": "-a^2"},
                           {"Id": "total", "Expression": "SUM(METRICS())"},
                           {"Id": "nested", "Expression": "mean*10"}])
    values = {r["Id"]: r["Values"] for r in out["MetricDataResults"]}
    assert values == {"mean": [6.0], "prec": [19.0], "neg": [-16.0, -1.0], "total": [12.0, 1.0],
                      "nested": [60.0]}


@pytest.mark.parametrize("expression", ["100*errors/", "errors + nosuch", "eval('1')", "a b"])
def test_bad_expressions_are_validation_errors(sandbox, expression):
    cw = sandbox.boto3_client("cloudwatch")
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(),
                           MetricDataQueries=[_stat_query("errors", "Errors"),
                                              {"Id": "e1", "Expression": expression}])
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_query_ids_must_be_valid_and_unique(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    for queries in ([_stat_query("Bad", "X", return_data=True)],
                    [_stat_query("a", "X", return_data=True), _stat_query("a", "Y", return_data=True)]):
        with pytest.raises(ClientError) as err:
            cw.get_metric_data(StartTime=_now() - dt.timedelta(minutes=10), EndTime=_now(),
                               MetricDataQueries=queries)
        assert err.value.response["Error"]["Code"] == "ValidationError"


# ---------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------

@pytest.fixture
def alerts(sandbox):
    """An SNS topic with an SQS queue subscribed to it; returns (topic_arn, receive())."""
    topic, queue_url = sandbox.sqs_subscribed_to("rollback-alerts", "alerts")
    sqs = sandbox.boto3_client("sqs")

    def receive() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for m in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    return topic, receive


def _put_error_rate_alarm(cw, topic: str, **extra) -> None:
    params = dict(
        AlarmName="error-rate", AlarmDescription="5XX above 5%", ComparisonOperator="GreaterThanThreshold",
        EvaluationPeriods=1, Threshold=5.0, AlarmActions=[topic], OKActions=[topic],
        Metrics=[_stat_query("errors", "Errors", period=300), _stat_query("requests", "Requests", period=300),
                 {"Id": "rate", "Expression": "100*errors/requests", "Label": "5XX %", "ReturnData": True}])
    cw.put_metric_alarm(**{**params, **extra})


def test_new_alarm_without_data_is_insufficient_data(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    cw.put_metric_alarm(AlarmName="latency", MetricName="Latency", Namespace=NS, Dimensions=DIMS,
                        ExtendedStatistic="p99", Period=60, EvaluationPeriods=3, Threshold=3000,
                        ComparisonOperator="GreaterThanThreshold")
    created = _alarm(cw, "latency")
    assert created["StateValue"] == "INSUFFICIENT_DATA"
    assert created["StateReason"] == "Unchecked: Initial alarm creation"
    result = _evaluate(sandbox, "latency")
    assert result["transitions"] == []
    assert result["evaluated"][0]["state"] == "INSUFFICIENT_DATA"
    alarm = _alarm(cw, "latency")
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == "Insufficient Data: 3 datapoints were unknown."


def test_alarm_to_alarm_and_back_to_ok_publishes_aws_messages(sandbox, alerts):
    topic, receive = alerts
    cw = sandbox.boto3_client("cloudwatch")
    _put_error_rate_alarm(cw, topic)
    _put(cw, "Requests", 1000.0, _minute(1))
    _put(cw, "Errors", 150.0, _minute(1))

    result = _evaluate(sandbox, "error-rate")
    [transition] = result["transitions"]
    assert (transition["old_state"], transition["new_state"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert transition["actions"] == [{"arn": topic, "status": "Succeeded"}]
    alarm = _alarm(cw, "error-rate")
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 datapoint [15.0 (")
    assert alarm["StateReason"].endswith("was greater than the threshold (5.0).")
    reason_data = json.loads(alarm["StateReasonData"])
    assert reason_data["recentDatapoints"] == [15.0] and reason_data["threshold"] == 5.0
    assert reason_data["period"] == 300
    assert alarm["StateTransitionedTimestamp"] == alarm["StateUpdatedTimestamp"]

    [envelope] = receive()
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
    assert envelope["Subject"] == 'ALARM: "error-rate" in US East (N. Virginia)'
    message = json.loads(envelope["Message"])
    assert message["AlarmName"] == "error-rate"
    assert message["AlarmDescription"] == "5XX above 5%"
    assert message["AWSAccountId"] == "123456789012"
    assert (message["OldStateValue"], message["NewStateValue"]) == ("INSUFFICIENT_DATA", "ALARM")
    assert message["NewStateReason"] == alarm["StateReason"]
    assert message["Region"] == "US East (N. Virginia)"
    assert message["AlarmArn"] == alarm["AlarmArn"]
    assert message["AlarmActions"] == [topic] and message["OKActions"] == [topic]
    assert message["StateChangeTime"].endswith("+0000")
    trigger = message["Trigger"]
    assert trigger["ComparisonOperator"] == "GreaterThanThreshold" and trigger["Threshold"] == 5.0
    assert trigger["EvaluationPeriods"] == 1
    metrics = {m["Id"]: m for m in trigger["Metrics"]}
    assert metrics["rate"] == {"Id": "rate", "Expression": "100*errors/requests", "Label": "5XX %",
                               "ReturnData": True}
    assert metrics["errors"]["MetricStat"]["Metric"] == {
        "Dimensions": [{"value": "app1", "name": "App"}], "MetricName": "Errors", "Namespace": NS}

    # Evaluating again without a change: no transition, no message.
    assert _evaluate(sandbox, "error-rate")["transitions"] == []
    assert receive() == []

    # Traffic recovers: more requests, no more errors -> 150/4000 = 3.75 %.
    _put(cw, "Requests", 3000.0, _minute(1))
    [back] = _evaluate(sandbox)["transitions"]
    assert (back["old_state"], back["new_state"]) == ("ALARM", "OK")
    assert _alarm(cw, "error-rate")["StateReason"].endswith("was not greater than the threshold (5.0).")
    [envelope] = receive()
    message = json.loads(envelope["Message"])
    assert envelope["Subject"] == 'OK: "error-rate" in US East (N. Virginia)'
    assert (message["OldStateValue"], message["NewStateValue"]) == ("ALARM", "OK")

    history = cw.describe_alarm_history(AlarmName="error-rate")["AlarmHistoryItems"]
    kinds = [(h["HistoryItemType"], h["HistorySummary"]) for h in history]
    assert kinds == [
        ("Action", f"Successfully executed action {topic}"),
        ("StateUpdate", "Alarm updated from ALARM to OK"),
        ("Action", f"Successfully executed action {topic}"),
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to ALARM"),
        ("ConfigurationUpdate", 'Alarm "error-rate" created'),
    ]
    update = json.loads(history[1]["HistoryData"])
    assert update["oldState"]["stateValue"] == "ALARM" and update["newState"]["stateValue"] == "OK"
    only_updates = cw.describe_alarm_history(AlarmName="error-rate", HistoryItemType="StateUpdate",
                                             ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in only_updates] == [
        "Alarm updated from INSUFFICIENT_DATA to ALARM", "Alarm updated from ALARM to OK"]


def test_percentile_alarm_message_names_the_extended_statistic(sandbox, alerts):
    topic, receive = alerts
    cw = sandbox.boto3_client("cloudwatch")
    cw.put_metric_alarm(AlarmName="latency-p99", MetricName="Latency", Namespace=NS, Dimensions=DIMS,
                        ExtendedStatistic="p99", Period=300, EvaluationPeriods=1, Threshold=3000,
                        ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic], Unit="Milliseconds")
    _put(cw, "Latency", stamp=_minute(1), Values=[200.0, 4000.0], Counts=[95.0, 5.0], Unit="Milliseconds")
    [transition] = _evaluate(sandbox)["transitions"]
    assert transition["new_state"] == "ALARM"
    assert transition["reason_data"]["statistic"] == "p99"
    assert transition["reason_data"]["evaluatedDatapoints"][0]["sampleCount"] == 100.0
    message = json.loads(receive()[0]["Message"])
    trigger = message["Trigger"]
    assert (trigger["StatisticType"], trigger["ExtendedStatistic"]) == ("ExtendedStatistic", "p99")
    assert trigger["MetricName"] == "Latency" and trigger["Namespace"] == NS
    assert trigger["Dimensions"] == [{"value": "app1", "name": "App"}]
    assert trigger["Period"] == 300 and trigger["Unit"] == "Milliseconds"


def test_m_out_of_n_and_missing_data_treatments(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    common = dict(MetricName="Errors", Namespace=NS, Dimensions=DIMS, Statistic="Sum", Period=60,
                  EvaluationPeriods=3, Threshold=10, ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.put_metric_alarm(AlarmName="two-of-three", DatapointsToAlarm=2, **common)
    cw.put_metric_alarm(AlarmName="three-of-three", **common)
    cw.put_metric_alarm(AlarmName="breaching", TreatMissingData="breaching",
                        **{**common, "MetricName": "Nothing"})
    cw.put_metric_alarm(AlarmName="not-breaching", TreatMissingData="notBreaching",
                        **{**common, "MetricName": "Nothing"})
    cw.put_metric_alarm(AlarmName="ignore", TreatMissingData="ignore", **{**common, "MetricName": "Nothing"})
    now = _now()
    for seconds_ago, value in ((150, 12.0), (90, 1.0), (30, 20.0)):
        _put(cw, "Errors", value, now - dt.timedelta(seconds=seconds_ago))
    states = {e["alarm_name"]: e["state"] for e in _evaluate(sandbox)["evaluated"]}
    assert states == {"two-of-three": "ALARM", "three-of-three": "OK", "breaching": "ALARM",
                      "not-breaching": "OK", "ignore": "INSUFFICIENT_DATA"}
    reason = _alarm(cw, "two-of-three")["StateReason"]
    assert reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [20.0 (")
    assert reason.endswith("were greater than or equal to the threshold (10.0) "
                           "(minimum 2 datapoints for INSUFFICIENT_DATA -> ALARM transition).")
    assert _alarm(cw, "breaching")["StateReason"] == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints "
        "were treated as [Breaching].")


def test_actions_disabled_changes_state_without_notifying(sandbox, alerts):
    topic, receive = alerts
    cw = sandbox.boto3_client("cloudwatch")
    _put_error_rate_alarm(cw, topic, ActionsEnabled=False)
    _put(cw, "Requests", 100.0, _minute(1))
    _put(cw, "Errors", 50.0, _minute(1))
    [transition] = _evaluate(sandbox, "error-rate")["transitions"]
    assert transition["new_state"] == "ALARM" and transition["actions"] == []
    assert receive() == []
    cw.enable_alarm_actions(AlarmNames=["error-rate"])
    cw.set_alarm_state(AlarmName="error-rate", StateValue="OK", StateReason="manual test")
    [envelope] = receive()
    message = json.loads(envelope["Message"])
    assert (message["NewStateValue"], message["NewStateReason"]) == ("OK", "manual test")


def test_update_keeps_state_and_history(sandbox, alerts):
    topic, _unused = alerts
    cw = sandbox.boto3_client("cloudwatch")
    _put_error_rate_alarm(cw, topic)
    cw.set_alarm_state(AlarmName="error-rate", StateValue="ALARM", StateReason="drill")
    _put_error_rate_alarm(cw, topic, AlarmDescription="changed")
    alarm = _alarm(cw, "error-rate")
    assert (alarm["StateValue"], alarm["StateReason"], alarm["AlarmDescription"]) == ("ALARM", "drill", "changed")
    summaries = [h["HistorySummary"] for h in cw.describe_alarm_history(
        AlarmName="error-rate", HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]]
    assert summaries == ['Alarm "error-rate" updated', 'Alarm "error-rate" created']


def test_put_metric_alarm_rejects_invalid_definitions(sandbox):
    cw = sandbox.boto3_client("cloudwatch")
    base = dict(AlarmName="bad", MetricName="Errors", Namespace=NS, Period=60, EvaluationPeriods=1,
                Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cases = [
        ({**base, "Statistic": "Sum", "ExtendedStatistic": "p99"}, "InvalidParameterCombination"),
        ({**base, "Statistic": "Sum", "DatapointsToAlarm": 2}, "ValidationError"),
        ({**base, "Statistic": "Sum", "TreatMissingData": "sometimes"}, "ValidationError"),
        ({k: v for k, v in base.items() if k not in ("MetricName", "Namespace", "Period")}
         | {"Metrics": [_stat_query("a", "A"), _stat_query("b", "B")]}, "ValidationError"),
    ]
    for params, code in cases:
        with pytest.raises(ClientError) as err:
            cw.put_metric_alarm(**params)
        assert err.value.response["Error"]["Code"] == code, params
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_evaluate_route_rejects_unknown_alarms(sandbox):
    with pytest.raises(RuntimeError, match="400.*no such alarm"):
        _evaluate(sandbox, "nope")
    with pytest.raises(RuntimeError, match="400"):
        sandbox.control("POST", "cloudwatch/evaluate-alarms", {"alarm_names": "x"})
