"""The foreign estate is what its docstring says, read back with plain boto3 as its owner
would: the tests built on it (discovery, realise, serve in account mode) start from that."""

from __future__ import annotations

import pytest

from estatekit import ForeignEstate, moto_server


def test_the_server_answers_on_loopback_and_stops_with_the_context() -> None:
    import urllib.error
    import urllib.request

    with moto_server() as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=5) as response:
            assert response.status == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/moto-api/", timeout=2)


def test_checkout_runs_revision_1_of_2_behind_the_load_balancer(foreign: ForeignEstate) -> None:
    ecs = foreign.client("ecs")
    [service] = ecs.describe_services(cluster=foreign.cluster, services=["checkout"])["services"]
    assert service["taskDefinition"] == foreign.task_definition_arns[0]
    assert foreign.task_definition_arns[1].endswith("task-definition/checkout:2")
    assert service["desiredCount"] == 2
    assert [lb["targetGroupArn"] for lb in service["loadBalancers"]] == [
        foreign.checkout_target_group_arn
    ]
    elbv2 = foreign.client("elbv2")
    groups = elbv2.describe_target_groups(
        TargetGroupArns=[foreign.checkout_target_group_arn, foreign.web_target_group_arn]
    )["TargetGroups"]
    assert [g["LoadBalancerArns"] for g in groups] == [[foreign.load_balancer_arn]] * 2
    assert foreign.load_balancer_dimension.startswith("app/shop/")
    assert foreign.checkout_target_group_dimension.startswith("targetgroup/checkout/")


def test_alarms_watch_checkouts_load_balancer_metrics(foreign: ForeignEstate) -> None:
    alarms = foreign.client("cloudwatch").describe_alarms(
        AlarmNames=list(foreign.checkout_alarms.values())
    )["MetricAlarms"]
    assert {a["MetricName"] for a in alarms} == {"HTTPCode_Target_5XX_Count", "TargetResponseTime"}
    for alarm in alarms:
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
            "LoadBalancer": foreign.load_balancer_dimension,
            "TargetGroup": foreign.checkout_target_group_dimension,
        }


def test_web_lambda_and_database_are_as_described(foreign: ForeignEstate) -> None:
    [group] = foreign.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["web"]
    )["AutoScalingGroups"]
    assert group["LaunchTemplate"]["LaunchTemplateId"] == foreign.launch_template_id
    assert group["TargetGroupARNs"] == [foreign.web_target_group_arn]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 4, 2)
    tags = {t["Key"]: t["Value"] for t in group["Tags"]}
    assert tags["incident-commander:depends-on"] == "checkout"

    lam = foreign.client("lambda")
    assert foreign.function_versions == ("1", "2")
    alias = lam.get_alias(FunctionName="resize", Name="live")
    assert alias["FunctionVersion"] == "1"

    [db] = foreign.client("rds").describe_db_instances(DBInstanceIdentifier="orders-db")[
        "DBInstances"
    ]
    db_tags = {t["Key"]: t["Value"] for t in db["TagList"]}
    assert db_tags["incident-commander:protected"] == "true"
    keys = foreign.client("iam").list_access_keys(UserName="checkout-deploy")
    assert [k["AccessKeyId"] for k in keys["AccessKeyMetadata"]] == [foreign.checkout_access_key_id]
