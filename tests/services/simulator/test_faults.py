"""Every fault and noise kind of the scenario format, run through the real simulator against the
embedded emulator: the effect the spec lists is read back the way an agent reads it, through
CloudWatch GetMetricData, describe calls, CloudWatch Logs and the EventBridge events the estate
emits.

Each scenario runs 12 one-minute steps with its event at 4m (step 4), so steps 0-3 are the
baseline the effect is measured against.
Most use ``simkit.WEB_DB``: a web tier (2 tasks, 100 rps, 35 % CPU, 40 % memory, 100 ms, 0.1 %
errors) calling a database (50 of 200 connections, 5 ms, 50 GiB free).
"""

from __future__ import annotations

import pytest

import simkit
from services.aws.port import AwsPort
from services.aws.resources import metric_ids
from services.errors import ScenarioValidationError
from services.simulator.dynamics import DB_CALLS_PER_REQUEST

ONSET = 4
BEFORE = slice(0, ONSET)
AFTER = slice(ONSET, None)


def approx(expected: float, rel: float = 0.1) -> object:
    return pytest.approx(expected, rel=rel)


# -- capacity faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "namespace"), [("ecs-service", "AWS/ECS"), ("asg", "AWS/EC2")])
def test_cpu_saturation_drives_cpu_near_100_then_latency_and_errors(
    aws: AwsPort, kind: str, namespace: str
) -> None:
    run = simkit.start(
        aws,
        f"""
        services:
          - name: api
            kind: {kind}
            capacity: 2
            baseline: {{rps: 100, cpu: 35, latency_ms: 100, error_rate: 0.1}}
        events:
          - {{at: 4m, kind: cpu-saturation, target: api}}
        """,
    ).run_all()

    cpu = run.metric("api", "cpu")
    latency = run.metric("api", "latency")
    errors = run.error_pct("api")
    assert metric_ids(run.res("api"))["cpu"].namespace == namespace
    assert all(v == approx(35) for v in cpu[BEFORE])
    assert all(v >= 95 for v in cpu[AFTER]), cpu
    assert all(v == approx(0.1) for v in latency[BEFORE])
    assert all(v >= 0.25 for v in latency[AFTER]), "saturated workers queue requests"
    assert max(errors[BEFORE]) < 0.5
    assert all(v > 3.0 for v in errors[AFTER]), "past 95 % busy, requests fail"
    assert run.reports[ONSET].breaching["api"] == ["latency", "errors"]


def test_cpu_saturation_on_a_database_with_default_baseline_reaches_near_100(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws,
        """
        services:
          - {name: db, kind: rds}
        events:
          - {at: 4m, kind: cpu-saturation, target: db}
        """,
    ).run_all()

    assert all(v >= 90 for v in run.metric("db", "cpu")[AFTER])


def test_traffic_spike_multiplies_requests_and_reaches_the_database(aws: AwsPort) -> None:
    run = simkit.start(
        aws,
        simkit.web_db(
            "{at: 4m, kind: traffic-spike, target: web, params: {factor: 4, malicious: true}}"
        ),
    ).run_all()

    requests = run.metric("web", "requests")
    before = simkit.mean(requests[BEFORE])
    assert before == approx(100 * 60)
    assert all(v == approx(4 * before) for v in requests[AFTER])
    # A share of the extra load flows on to what web calls.
    connections = run.metric("db", "connections")
    assert all(v == approx(50) for v in connections[BEFORE])
    assert all(v > 1.5 * 50 for v in connections[AFTER])
    # Malicious: the rate comes from few client addresses, and the service's log says so.
    assert any("from 3 client addresses" in line for line in run.log_lines("web"))


def test_traffic_spike_on_a_function_is_throttled_at_its_reserved_concurrency(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws,
        """
        services:
          - name: fn
            kind: lambda
            capacity: 20
            baseline: {rps: 50, latency_ms: 200, error_rate: 0.1}
        events:
          - {at: 4m, kind: traffic-spike, target: fn, params: {factor: 4}}
        """,
    ).run_all()

    # 50 rps x 0.2 s = 10 concurrent; four times that is 40 against a reserved 20.
    throttles = run.metric("fn", "throttles")
    concurrency = run.metric("fn", "concurrency")
    invocations = run.metric("fn", "requests")
    assert throttles[BEFORE] == [0.0] * ONSET
    assert all(v == approx(10) for v in concurrency[BEFORE])
    assert all(v == approx(0.5 * 4 * 50 * 60) for v in throttles[AFTER])
    assert all(v == approx(20) for v in concurrency[AFTER])
    assert all(v == approx(2 * 50 * 60) for v in invocations[AFTER]), "half get through"
    assert any("concurrency limit" in line for line in run.log_lines("fn"))


def test_cost_runaway_raises_desired_count_to_the_maximum_with_no_rise_in_load(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws,
        """
        services:
          - name: web
            kind: ecs-service
            capacity: 2
            max_capacity: 6
            baseline: {rps: 100, cpu: 35}
        events:
          - {at: 4m, kind: cost-runaway, target: web, params: {over: 4m}}
        """,
    )
    res = run.res("web")
    desired = []
    for index in range(run.sim.scenario.steps):
        run.run_to(index)
        svc = aws.ecs.describe_services(cluster=res.cluster or "", services=["web"])["services"]
        desired.append(svc[0]["desiredCount"])

    assert desired == [2, 2, 2, 2, 3, 4, 5, 6, 6, 6, 6, 6]
    assert run.metric("web", "capacity") == [float(d) for d in desired]
    requests = run.metric("web", "requests")
    assert simkit.mean(requests[AFTER]) == approx(simkit.mean(requests[BEFORE]), rel=0.05)
    assert run.metric("web", "cpu")[-1] == approx(35 * 2 / 6), "idle tasks: CPU per task falls"
    assert "web: capacity 5 -> 6" in run.notes()


def test_cost_runaway_on_an_auto_scaling_group_climbs_to_its_max_size(aws: AwsPort) -> None:
    run = simkit.start(
        aws,
        """
        services:
          - {name: fleet, kind: asg, capacity: 2, max_capacity: 5}
        events:
          - {at: 4m, kind: cost-runaway, target: fleet, params: {over: 3m}}
        """,
    ).run_all()

    group = aws.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[run.res("fleet").asg_name or ""]
    )["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == group["MaxSize"] == 5
    assert len(group["Instances"]) == 5
    capacity = run.metric("fleet", "capacity")
    assert capacity[BEFORE] == [2.0] * ONSET
    assert capacity[-1] == 5.0
    assert capacity == sorted(capacity), "capacity only climbs"


# -- faults that need a cure ----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "namespace"), [("ecs-service", "AWS/ECS"), ("asg", "CWAgent")])
def test_memory_leak_climbs_by_rate_until_out_of_memory_restarts_with_error_bursts(
    aws: AwsPort, kind: str, namespace: str
) -> None:
    run = simkit.start(
        aws,
        f"""
        services:
          - {{name: app, kind: {kind}, baseline: {{memory: 40, error_rate: 0.1}}}}
        events:
          - {{at: 4m, kind: memory-leak, target: app, params: {{rate: 15}}}}
        """,
    ).run_all()

    assert metric_ids(run.res("app"))["memory"].namespace == namespace
    memory = run.metric("app", "memory")
    errors = run.error_pct("app")
    # 40 % baseline + 15 a step: 55, 70, 85, then 100 % kills the tasks (step 7) and it starts over.
    assert all(v == approx(40) for v in memory[BEFORE])
    assert memory[4:7] == [approx(55), approx(70), approx(85)]
    assert memory[7] == approx(40)
    assert memory[8:11] == [approx(55), approx(70), approx(85)]
    out_of_memory = [i for i, e in enumerate(errors) if e > 20]
    assert out_of_memory == [7, 11]
    assert max(e for i, e in enumerate(errors) if i not in out_of_memory) < 0.5
    assert any("OutOfMemoryError" in line for line in run.log_lines("app"))


@pytest.mark.parametrize(
    ("kind", "revision_before", "revision_after"),
    [("ecs-service", ":1", ":2"), ("asg", "1", "2"), ("lambda", "1", "2")],
)
def test_bad_deploy_rolls_out_a_new_revision_and_errors_rise_from_it(
    aws: AwsPort, kind: str, revision_before: str, revision_after: str
) -> None:
    run = simkit.start(
        aws,
        f"""
        services:
          - {{name: app, kind: {kind}, baseline: {{rps: 100, error_rate: 0.1}}}}
        events:
          - {{at: 4m, kind: bad-deploy, target: app, params: {{error_rate: 20}}}}
        """,
    ).run_to(ONSET - 1)
    before = run.revision("app")
    run.run_all()
    after = run.revision("app")

    assert before.endswith(revision_before)
    assert after.endswith(revision_after)
    errors = run.error_pct("app")
    assert max(errors[BEFORE]) < 0.5
    assert all(v == approx(20.1) for v in errors[AFTER]), errors


def test_bad_deploy_that_only_slows_raises_latency_not_errors(aws: AwsPort) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: bad-deploy, target: web, params: {latency_factor: 3}}")
    ).run_all()

    latency = run.metric("web", "latency")
    assert all(v == approx(0.1) for v in latency[BEFORE])
    assert all(v == approx(0.3) for v in latency[AFTER])
    assert max(run.error_pct("web")) < 0.5


def test_dependency_latency_slows_the_database_and_its_callers_ten_calls_over(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: dependency-latency, target: db, params: {factor: 5}}")
    ).run_all()

    read_latency = run.metric("db", "latency")
    assert all(v == approx(0.005) for v in read_latency[BEFORE])
    assert all(v == approx(0.025) for v in read_latency[AFTER])
    # Callers make ten database calls a request: 100 ms + 10 x 20 ms extra.
    caller = run.metric("web", "latency")
    assert all(v == approx((100 + DB_CALLS_PER_REQUEST * 20) / 1000) for v in caller[AFTER])
    errors = run.error_pct("web")
    assert max(errors[BEFORE]) < 0.5
    assert all(v > 5 for v in errors[AFTER]), "five times slower: some calls time out"
    assert any("upstream db timed out" in line for line in run.log_lines("web"))


def test_connection_exhaustion_fills_connections_to_the_maximum_and_callers_fail(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: connection-exhaustion, target: db, params: {over: 3m}}")
    ).run_all()

    connections = run.metric("db", "connections")
    assert all(v == approx(50) for v in connections[BEFORE])
    assert connections[4] < connections[5] < connections[6], "the pool fills over three steps"
    assert all(v == approx(200, rel=0.05) for v in connections[6:])
    errors = run.error_pct("web")
    assert max(errors[:6]) < 0.5, "callers connect while there is room"
    assert all(v > 25 for v in errors[6:]), "callers fail to connect"
    assert any("too many clients" in line for line in run.log_lines("db"))


def test_disk_full_drains_free_storage_to_zero_then_writes_fail(aws: AwsPort) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: disk-full, target: db, params: {over: 4m}}")
    ).run_all()

    gib = 1024**3
    free = [v / gib for v in run.metric("db", "free_storage")]
    assert free[BEFORE] == [50.0] * ONSET
    assert free[4:8] == [37.5, 25.0, 12.5, 0.0]
    assert free[8:] == [0.0] * 4
    errors = run.error_pct("web")
    assert max(errors[:7]) < 0.5
    assert all(v > 20 for v in errors[7:]), "writes fail once the disk is full"
    assert any("No space left on device" in line for line in run.log_lines("db"))
    storage_alarms = [
        e["detail"]["state"]["value"]
        for e in run.events_of("CloudWatch Alarm State Change")
        if e["detail"]["alarmName"] == run.res("db").alarms["storage"]
    ]
    assert storage_alarms == ["ALARM"]


# -- security faults ------------------------------------------------------------------------------


def test_credential_compromise_sends_guardduty_findings_naming_the_access_key(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: credential-compromise, target: web}")
    ).run_all()

    res = run.res("web")
    keys = aws.iam.list_access_keys(UserName=res.iam_user)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(res.access_key_id, "Active")]
    assert run.event_steps("GuardDuty Finding") == [4, 9], "at onset, then every five steps"
    for finding in run.events_of("GuardDuty Finding"):
        detail = finding["detail"]
        assert detail["type"].startswith("UnauthorizedAccess:IAMUser/")
        assert detail["resource"]["accessKeyDetails"] == {
            "userName": res.iam_user,
            "userType": "IAMUser",
            "accessKeyId": res.access_key_id,
        }
        call = detail["service"]["action"]["awsApiCallAction"]
        assert call["remoteIpDetails"]["ipAddressV4"] == "198.51.100.23"
    assert not any(r.breaching for r in run.reports), "a stolen key does not show in the SLOs"


@pytest.mark.parametrize("kind", ["asg", "ecs-service"])
def test_instance_compromise_names_the_instance_and_raises_cpu(aws: AwsPort, kind: str) -> None:
    run = simkit.start(
        aws,
        f"""
        services:
          - {{name: app, kind: {kind}, capacity: 2, baseline: {{cpu: 35}}}}
        events:
          - {{at: 4m, kind: instance-compromise, target: app}}
        """,
    ).run_all()

    res = run.res("app")
    if kind == "asg":
        group = aws.autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[res.asg_name or ""]
        )["AutoScalingGroups"][0]
        instances = {i["InstanceId"] for i in group["Instances"]}
    else:
        assert res.host_instance_id is not None
        instances = {res.host_instance_id}
    findings = run.events_of("GuardDuty Finding")
    assert run.event_steps("GuardDuty Finding") == [4, 9]
    named = {f["detail"]["resource"]["instanceDetails"]["instanceId"] for f in findings}
    assert len(named) == 1
    assert named <= instances
    assert findings[0]["detail"]["type"].startswith("CryptoCurrency:EC2/")
    # One of two instances mining at 95 %: the average rises by (95 - 35) / 2.
    cpu = run.metric("app", "cpu")
    assert all(v == approx(35) for v in cpu[BEFORE])
    assert all(v == approx(65) for v in cpu[AFTER])


def test_security_group_exposure_opens_a_port_to_the_world_with_a_cloudtrail_record(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws,
        simkit.web_db("{at: 4m, kind: security-group-exposure, target: db, params: {port: 5432}}"),
    )
    group_id = run.res("db").security_group_id

    def world_open() -> list[tuple[str, int]]:
        group = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return [
            (p["IpProtocol"], p["FromPort"])
            for p in group["IpPermissions"]
            for r in p.get("IpRanges", [])
            if r["CidrIp"] == "0.0.0.0/0"
        ]

    run.run_to(ONSET - 1)
    assert world_open() == []
    run.run_all()
    assert world_open() == [("tcp", 5432)]

    [trail] = run.events_of("AWS API Call via CloudTrail")
    assert trail["detail"]["eventName"] == "AuthorizeSecurityGroupIngress"
    assert trail["detail"]["requestParameters"]["groupId"] == group_id
    assert trail["detail"]["userIdentity"]["userName"] == run.res("db").iam_user
    assert run.event_steps("AWS API Call via CloudTrail") == [ONSET]
    probes = run.events_of("GuardDuty Finding")
    assert [f["detail"]["type"] for f in probes] == ["Recon:EC2/PortProbeUnprotectedPort"]
    assert group_id in probes[0]["detail"]["description"]


def test_the_first_port_probe_finding_counts_one(aws: AwsPort) -> None:
    run = simkit.start(aws, simkit.web_db("{at: 4m, kind: security-group-exposure, target: web}"))
    run.run_all()

    [probe] = run.events_of("GuardDuty Finding")
    assert probe["detail"]["service"]["count"] == 1


def test_a_second_exposure_of_an_already_open_port_still_runs(aws: AwsPort) -> None:
    run = simkit.start(
        aws,
        simkit.web_db("{at: 2m, kind: security-group-exposure, target: db}")
        + "  - {at: 4m, kind: security-group-exposure, target: db}\n",
    )

    run.run_all()

    assert run.event_steps("AWS API Call via CloudTrail") == [2, 4]


# -- noise ----------------------------------------------------------------------------------------


def test_deploy_registers_a_new_revision_and_leaves_the_metrics_alone(aws: AwsPort) -> None:
    run = simkit.start(aws, simkit.web_db("{at: 4m, kind: deploy, target: web}")).run_all()

    res = run.res("web")
    svc = aws.ecs.describe_services(cluster=res.cluster or "", services=["web"])["services"][0]
    task = aws.ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])
    assert task["taskDefinition"]["revision"] == 2
    assert task["taskDefinition"]["containerDefinitions"][0]["image"] == "web:r2"
    families = aws.ecs.list_task_definitions(familyPrefix=res.task_family or "")
    assert len(families["taskDefinitionArns"]) == 2, "the previous revision stays registered"

    for role in ("cpu", "memory", "latency"):
        values = run.metric("web", role)
        assert simkit.mean(values[AFTER]) == approx(simkit.mean(values[BEFORE]), rel=0.05), role
    assert max(run.error_pct("web")) < 0.5
    assert not any(r.breaching for r in run.reports)
    assert run.events == []


def test_transient_spike_clears_by_itself_after_its_duration(aws: AwsPort) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: transient-spike, target: web, params: {factor: 3}}")
    ).run_all()

    latency = run.metric("web", "latency")
    # Two steps by default (4 and 5), then back to baseline with no action taken.
    assert all(v == approx(0.1) for v in latency[BEFORE])
    assert latency[4:6] == [approx(0.3), approx(0.3)]
    assert all(v == approx(0.1) for v in latency[6:])
    assert [i for i, r in enumerate(run.reports) if r.breaching] == [4, 5]


def test_flapping_alert_toggles_its_alarm_while_the_metric_stays_in_band(aws: AwsPort) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: flapping-alert, target: web, params: {duration: 6m}}")
    )
    alarm = run.res("web").alarms["latency"]
    states = []
    for index in range(run.sim.scenario.steps):
        run.run_to(index)
        got = aws.cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
        states.append(got["StateValue"])

    assert states[4:10] == ["ALARM", "OK"] * 3, "CloudWatch shows the alarm flapping"
    changes = [
        e["detail"]["state"]["value"]
        for e in run.events_of("CloudWatch Alarm State Change")
        if e["detail"]["alarmName"] == alarm
    ]
    assert changes == ["ALARM", "OK"] * 3
    latency = run.metric("web", "latency")
    assert all(v < 0.1 * 1.5 for v in latency), "the metric itself never leaves its band"
    assert not any(r.breaching for r in run.reports)


def test_flapping_alert_on_a_metric_the_target_has_no_alarm_for_is_rejected() -> None:
    with pytest.raises(ScenarioValidationError) as caught:
        simkit.scenario(
            """
            services:
              - {name: db, kind: rds}
            events:
              - {at: 4m, kind: flapping-alert, target: db, params: {metric: errors}}
            """
        )
    [issue] = caught.value.issues
    assert issue.field == "events[0].params.metric"
    assert "no errors alarm" in issue.message


# -- across services and runs ---------------------------------------------------------------------


def test_a_failing_database_degrades_its_callers_and_their_callers_but_no_one_else(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws,
        """
        services:
          - name: edge
            kind: ecs-service
            depends_on: [orders]
            baseline: {rps: 100, error_rate: 0.1}
          - name: orders
            kind: asg
            depends_on: [orders-db]
            baseline: {rps: 100, error_rate: 0.1}
          - {name: orders-db, kind: rds, baseline: {connections: 50, max_connections: 100}}
          - {name: search, kind: lambda, baseline: {rps: 50, error_rate: 0.1}}
        events:
          - {at: 4m, kind: connection-exhaustion, target: orders-db, params: {over: 1m}}
        """,
    ).run_all()

    orders, edge, search = run.error_pct("orders"), run.error_pct("edge"), run.error_pct("search")
    assert max(orders[BEFORE] + edge[BEFORE]) < 0.5
    assert all(v > 25 for v in orders[AFTER]), "the database's caller fails to connect"
    assert all(v > 20 for v in edge[AFTER]), "and the failures reach its own callers"
    assert max(search) < 0.5, "a service that does not call the database stays healthy"
    assert all(set(r.breaching) == {"orders-db", "orders", "edge"} for r in run.reports[AFTER])


ROLES = ("cpu", "memory", "requests", "latency", "errors")
NOISY = """
services:
  - {name: web, kind: ecs-service, noise: 0.1, baseline: {rps: 100, cpu: 35}}
events:
  - {at: 4m, kind: memory-leak, target: web}
"""


def test_the_same_seed_publishes_the_same_metrics_and_another_seed_does_not(
    aws: AwsPort,
) -> None:
    first = simkit.start(aws, NOISY, seed=11).run_all()
    again = simkit.start(aws, NOISY, seed=11).run_all()
    other = simkit.start(aws, NOISY, seed=12).run_all()

    for role in ROLES:
        assert again.metric("web", role) == first.metric("web", role), role
    assert [r.services["web"].sample for r in again.reports] == [
        r.services["web"].sample for r in first.reports
    ]
    assert first.metric("web", "cpu") != other.metric("web", "cpu")
    assert first.metric("web", "latency") != other.metric("web", "latency")
