"""Every action of the remediation catalogue, executed with ``actions.execute`` against the
embedded emulator during a fault it addresses: the AWS state changes (read back with describe
calls) and the simulator's next steps show the effect in the metrics (GetMetricData) and in its
true samples. Actions that do not address the cause leave it in place, and every outcome is an
``ActionResult`` value: succeeded with a rollback that undoes it, not_applicable, or failed.

Faults start at 4m (step 4); actions run after step 5 unless a test says otherwise, so step 6 is
the first step that can show their effect.
"""

from __future__ import annotations

import pytest

import simkit
from services.aws.actions import ActionRequest, ActionStatus
from services.aws.port import AwsPort
from services.scenario.model import ActionKind

ONSET, ACTED = 4, 5
DURING = slice(ONSET, ACTED + 1)
AFTER = slice(ACTED + 1, None)


def one(
    kind: str,
    event: str,
    baseline: str = "{cpu: 35, memory: 40, error_rate: 0.1}",
    max_capacity: int | None = None,
) -> str:
    """One service named ``app``: two tasks or instances, or 20 reserved lambda executions."""
    capacity = f"capacity: {20 if kind == 'lambda' else 2}"
    if max_capacity is not None:
        capacity += f", max_capacity: {max_capacity}"
    return (
        f"services:\n  - {{name: app, kind: {kind}, {capacity}, baseline: {baseline}}}\n"
        f"events:\n  - {event}\n"
    )


def approx(expected: float, rel: float = 0.1) -> object:
    return pytest.approx(expected, rel=rel)


# -- deployments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "first"), [("ecs-service", ":1"), ("asg", "1"), ("lambda", "1")])
def test_rollback_after_a_bad_deploy_brings_errors_back_to_baseline(
    aws: AwsPort, kind: str, first: str
) -> None:
    run = simkit.start(
        aws, one(kind, "{at: 4m, kind: bad-deploy, target: app, params: {error_rate: 20}}")
    ).run_to(ACTED)
    bad = run.revision("app")

    result = run.act("rollback-deployment", "app")

    assert result.status is ActionStatus.SUCCEEDED
    assert result.before == {"revision": bad}
    assert run.revision("app") == result.after["revision"]
    assert run.revision("app").endswith(first)
    assert result.rollback == ActionRequest(ActionKind.ROLLBACK_DEPLOYMENT, "app", {"to": bad})
    run.run_all()
    errors = run.error_pct("app")
    assert all(v == approx(20.1) for v in errors[DURING])
    assert all(v < 0.5 for v in errors[AFTER]), errors
    assert not any(r.breaching for r in run.reports[AFTER])


def test_undoing_a_rollback_brings_the_bad_revision_and_its_errors_back(aws: AwsPort) -> None:
    run = simkit.start(aws, simkit.web_db("{at: 4m, kind: bad-deploy, target: web}")).run_to(ACTED)
    rollback = run.act("rollback-deployment", "web")
    run.run_to(7)

    undo = run.undo(rollback)

    assert undo.ok
    assert run.revision("web") == rollback.before["revision"]
    run.run_all()
    errors = run.error_pct("web")
    assert max(errors[6:8]) < 0.5
    assert all(v == approx(15.1) for v in errors[8:]), "the defect lives in the revision"


# -- capacity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ecs-service", "asg"])
def test_scale_out_under_cpu_saturation_brings_cpu_per_task_below_the_alarm(
    aws: AwsPort, kind: str
) -> None:
    run = simkit.start(aws, one(kind, "{at: 4m, kind: cpu-saturation, target: app}")).run_to(ACTED)

    result = run.act("scale-out", "app")

    assert result.ok
    assert (result.before, result.after) == ({"capacity": 2}, {"capacity": 4})
    assert run.capacity("app") == 4
    assert result.rollback == ActionRequest(ActionKind.SCALE_IN, "app", {"desired": 2})
    run.run_to(8)
    undo = run.undo(result)  # the rollback request puts the capacity back
    assert undo.ok
    assert run.capacity("app") == 2
    run.run_all()

    cpu, errors = run.metric("app", "cpu"), run.error_pct("app")
    alarm = aws.cloudwatch.describe_alarms(AlarmNames=[run.res("app").alarms["cpu"]])
    cpu_alarm = alarm["MetricAlarms"][0]["Threshold"]
    assert all(v >= 95 for v in cpu[DURING])
    assert all(v < cpu_alarm for v in cpu[6:9]), "twice the tasks, half the CPU each"
    assert all(v >= 95 for v in cpu[9:]), "scaled back in, saturated again"
    assert max(errors[6:9]) < 0.5
    assert run.metric("app", "capacity") == [2.0] * 6 + [4.0] * 3 + [2.0] * 3


def test_scale_out_of_a_function_stops_its_throttling(aws: AwsPort) -> None:
    run = simkit.start(
        aws,
        one(
            "lambda",
            "{at: 4m, kind: traffic-spike, target: app, params: {factor: 4}}",
            "{rps: 50, latency_ms: 200, error_rate: 0.1}",
        ),
    ).run_to(ACTED)

    result = run.act("scale-out", "app")

    assert result.ok
    reserved = aws.lambda_.get_function_concurrency(FunctionName=run.res("app").function_name or "")
    assert reserved["ReservedConcurrentExecutions"] == 40
    run.run_all()
    throttles = run.metric("app", "throttles")
    assert all(v > 0 for v in throttles[DURING])
    assert throttles[AFTER] == [0.0] * 6
    assert all(s.error_rate < 0.5 for s in run.samples("app")[AFTER])


@pytest.mark.parametrize("kind", ["ecs-service", "asg"])
@pytest.mark.parametrize("acted", [5, 9], ids=["during-the-ramp", "after-the-ramp"])
def test_scale_in_undoes_a_cost_runaway(aws: AwsPort, kind: str, acted: int) -> None:
    run = simkit.start(
        aws,
        one(
            kind,
            "{at: 4m, kind: cost-runaway, target: app, params: {over: 4m}}",
            max_capacity=6,
        ),
    ).run_to(acted)
    assert run.capacity("app") > 2

    result = run.act("scale-in", "app", desired=2)

    assert result.ok
    assert result.after == {"capacity": 2}
    run.run_all()
    assert run.capacity("app") == 2, "the runaway schedule does not fight the operator"
    capacity = run.metric("app", "capacity")
    assert max(capacity) == (6.0 if acted == 9 else 4.0)
    assert capacity[acted + 1 :] == [2.0] * (11 - acted)
    assert run.sim.runs[0].cured_step is not None


# -- restarts -------------------------------------------------------------------------------------


def _replaced(run: simkit.SimRun) -> str:
    """What a restart changes: the ECS primary deployment, or the ASG's instances."""
    res = run.res("app")
    if res.ecs_service:
        svc = run.port.ecs.describe_services(cluster=res.cluster or "", services=[res.ecs_service])[
            "services"
        ][0]
        return next(d["id"] for d in svc["deployments"] if d["status"] == "PRIMARY")
    group = run.port.autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[res.asg_name or ""]
    )["AutoScalingGroups"][0]
    return ",".join(sorted(i["InstanceId"] for i in group["Instances"]))


@pytest.mark.parametrize("kind", ["ecs-service", "asg"])
def test_restart_service_clears_leaked_memory(aws: AwsPort, kind: str) -> None:
    run = simkit.start(
        aws, one(kind, "{at: 4m, kind: memory-leak, target: app, params: {rate: 15}}")
    ).run_to(ACTED)
    before = _replaced(run)

    result = run.act("restart-service", "app")

    assert result.ok
    after = _replaced(run)
    assert after != before
    if kind == "asg":
        assert not set(after.split(",")) & set(before.split(",")), "every instance replaced"
    run.run_all()
    memory = run.metric("app", "memory")
    assert memory[DURING] == [approx(55), approx(70)]
    assert all(v == approx(40) for v in memory[AFTER]), "the leak is gone, not just reset"
    assert max(run.error_pct("app")) < 0.5, "no out-of-memory kill after the restart"
    if kind == "asg":
        replaced = ", ".join(sorted(before.split(",")))
        assert f"app: instances replaced: {replaced}" in run.notes()
    else:
        assert "app: tasks replaced" in run.notes()


# -- databases ------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["reboot-database", "failover-database"])
@pytest.mark.parametrize(
    "fault",
    [
        "{at: 4m, kind: dependency-latency, target: db, params: {factor: 5}}",
        "{at: 4m, kind: connection-exhaustion, target: db, params: {over: 1m}}",
    ],
    ids=["dependency-latency", "connection-exhaustion"],
)
def test_reboot_or_failover_clears_a_slow_or_exhausted_database(
    aws: AwsPort, action: str, fault: str
) -> None:
    run = simkit.start(aws, simkit.web_db(fault)).run_to(ACTED)
    ident = run.res("db").db_instance_id or ""

    def restarts() -> int:
        events = aws.rds.describe_events(SourceIdentifier=ident, SourceType="db-instance")
        return sum(
            1
            for e in events["Events"]
            if e.get("Message", "").startswith(("DB instance restarted", "Multi-AZ"))
        )

    result = run.act(action, "db")

    assert result.ok
    assert restarts() == 1
    run.run_all()
    assert any(r.breaching.get("web") for r in run.reports[DURING])
    assert not any(r.breaching for r in run.reports[AFTER])
    assert all(v == approx(0.005) for v in run.metric("db", "latency")[AFTER])
    assert all(v == approx(50) for v in run.metric("db", "connections")[AFTER])
    assert all(v == approx(0.1) for v in run.metric("web", "latency")[AFTER])
    assert max(run.error_pct("web")[AFTER]) < 0.5
    assert "db: database rebooted" in run.notes()


def test_increase_storage_frees_space_and_writes_succeed_again(aws: AwsPort) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: disk-full, target: db, params: {over: 2m}}")
    ).run_to(7)
    ident = run.res("db").db_instance_id or ""

    result = run.act("increase-storage", "db")

    assert result.ok
    assert (result.before, result.after) == ({"allocated_gib": 100}, {"allocated_gib": 150})
    assert result.rollback is None, "RDS storage cannot shrink"
    db = aws.rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    assert db["AllocatedStorage"] == 150
    run.run_all()
    free = [v / 1024**3 for v in run.metric("db", "free_storage")]
    errors = run.error_pct("web")
    assert free[5:8] == [0.0] * 3
    assert all(v > 20 for v in errors[5:8])
    assert free[8:] == [50.0] * 4, "the new 50 GiB is free"
    assert max(errors[8:]) < 0.5, "writes succeed again"


# -- security -------------------------------------------------------------------------------------


def test_deactivating_the_access_key_cures_the_compromise_and_findings_stop(
    aws: AwsPort,
) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: credential-compromise, target: web}")
    ).run_to(ACTED)
    res = run.res("web")

    result = run.act("deactivate-access-key", "web")

    assert result.ok
    keys = aws.iam.list_access_keys(UserName=res.iam_user)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(res.access_key_id, "Inactive")]
    run.run_all()
    assert run.sim.runs[0].cured_step == ACTED + 1
    assert run.event_steps("GuardDuty Finding") == [ONSET], "no finding at step 9"
    assert "web: access key deactivated" in run.notes()


def test_the_rollback_of_a_key_deactivation_reactivates_the_key(aws: AwsPort) -> None:
    run = simkit.start(aws, simkit.web_db("{at: 4m, kind: credential-compromise, target: web}"))
    res = run.res("web")
    result = run.act("deactivate-access-key", "web")

    run.undo(result)

    keys = aws.iam.list_access_keys(UserName=res.iam_user)["AccessKeyMetadata"]
    assert [k["Status"] for k in keys] == ["Active"]


@pytest.mark.parametrize("kind", ["ecs-service", "asg"])
def test_isolating_the_compromised_instance_stops_the_mining(aws: AwsPort, kind: str) -> None:
    run = simkit.start(aws, one(kind, "{at: 4m, kind: instance-compromise, target: app}")).run_to(
        ACTED
    )
    [finding] = run.events_of("GuardDuty Finding")
    instance_id = finding["detail"]["resource"]["instanceDetails"]["instanceId"]
    # The host of an ECS service is known to the estate; in a group the finding names it.
    params = {"instance_id": instance_id} if kind == "asg" else {}

    result = run.act("isolate-instance", "app", **params)

    assert result.ok
    quarantine = run.estate.quarantine_security_group_id
    described = aws.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]
    assert [g["GroupId"] for g in described["Instances"][0]["SecurityGroups"]] == [quarantine]
    assert result.before == {"security_groups": [run.res("app").security_group_id]}
    run.run_all()
    cpu = run.metric("app", "cpu")
    assert all(v == approx(65) for v in cpu[DURING])
    assert all(v == approx(35) for v in cpu[AFTER]), "CPU back to baseline"
    assert run.event_steps("GuardDuty Finding") == [ONSET]
    assert f"app: instance {instance_id} quarantined" in run.notes()


def test_revoking_the_world_open_rule_closes_the_exposure(aws: AwsPort) -> None:
    run = simkit.start(
        aws,
        simkit.web_db("{at: 4m, kind: security-group-exposure, target: db, params: {port: 5432}}"),
    ).run_to(ACTED)
    group_id = run.res("db").security_group_id

    result = run.act("revoke-ingress-rule", "db")

    assert result.ok
    assert result.before["open_rules"][0]["FromPort"] == 5432
    group = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    cidrs = [(p["FromPort"], r["CidrIp"]) for p in group["IpPermissions"] for r in p["IpRanges"]]
    assert cidrs == [(443, run.estate.vpc_cidr)], "only the world-open rule is gone"
    run.run_all()
    assert run.sim.runs[0].cured_step == ACTED + 1
    assert run.events_of("GuardDuty Finding") == [], "nothing left to probe at step 9"
    assert "db: world-open rule tcp/5432 revoked" in run.notes()


# -- no AWS change ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["notify", "escalate"])
def test_notify_and_escalate_change_nothing_in_aws_and_the_fault_goes_on(
    aws: AwsPort, action: str
) -> None:
    run = simkit.start(aws, simkit.web_db("{at: 4m, kind: bad-deploy, target: web}")).run_to(ACTED)
    revision = run.revision("web")

    result = run.act(action, "web", message="checkout 5xx at 15 %")

    assert result.ok
    assert "checkout 5xx at 15 %" in result.detail
    assert result.rollback is None
    assert run.revision("web") == revision
    run.run_all()
    assert all(v == approx(15.1) for v in run.error_pct("web")[AFTER])


# -- actions that do not address the cause --------------------------------------------------------


def test_scale_out_during_a_bad_deploy_leaves_the_error_rate_up(aws: AwsPort) -> None:
    run = simkit.start(aws, simkit.web_db("{at: 4m, kind: bad-deploy, target: web}")).run_to(ACTED)

    assert run.act("scale-out", "web").ok

    run.run_all()
    assert run.metric("web", "capacity")[-1] == 4.0
    assert all(v == approx(15.1) for v in run.error_pct("web")[AFTER])
    assert all("errors" in r.breaching["web"] for r in run.reports[AFTER])


def test_restarts_and_reboots_do_not_fix_a_full_disk(aws: AwsPort) -> None:
    run = simkit.start(
        aws, simkit.web_db("{at: 4m, kind: disk-full, target: db, params: {over: 1m}}")
    ).run_to(ACTED)

    restart_db = run.act("restart-service", "db")
    restart_caller = run.act("restart-service", "web")
    reboot = run.act("reboot-database", "db")

    assert restart_db.status is ActionStatus.NOT_APPLICABLE
    assert restart_caller.ok
    assert reboot.ok
    run.run_all()
    assert run.metric("db", "free_storage")[AFTER] == [0.0] * 6
    assert all(v > 20 for v in run.error_pct("web")[AFTER])


def test_scale_out_of_a_group_does_not_cure_its_memory_leak(aws: AwsPort) -> None:
    run = simkit.start(
        aws, one("asg", "{at: 4m, kind: memory-leak, target: app, params: {rate: 15}}")
    ).run_to(ACTED)

    assert run.act("scale-out", "app").ok

    run.run_all()
    assert run.sim.runs[0].cured_step is None
    assert max(run.metric("app", "memory")[AFTER]) > 80, "the old instances still leak"


# -- outcomes as values ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def estate(aws: AwsPort) -> simkit.SimRun:
    """A healthy estate of every kind, one step in; the tests here must not change it."""
    return simkit.start(
        aws,
        """
        services:
          - {name: web, kind: ecs-service}
          - {name: fleet, kind: asg}
          - {name: db, kind: rds}
          - {name: fn, kind: lambda}
        """,
        duration="2m",
    ).run_to(0)


@pytest.mark.parametrize(
    ("action", "service", "says"),
    [
        ("reboot-database", "web", "not a database"),
        ("failover-database", "fleet", "not a database"),
        ("increase-storage", "fn", "not a database"),
        ("scale-out", "db", "database"),
        ("scale-in", "db", "database"),
        ("restart-service", "fn", "not lambda"),
        ("restart-service", "db", "not rds"),
        ("rollback-deployment", "db", "no deployment"),
        ("rollback-deployment", "web", "first task definition"),
        ("rollback-deployment", "fleet", "version 1"),
        ("rollback-deployment", "fn", "version 1"),
        ("revoke-ingress-rule", "web", "no rule open to 0.0.0.0/0"),
        ("isolate-instance", "web", "needs params.instance_id"),
    ],
)
def test_an_action_that_does_not_fit_the_service_is_not_applicable(
    estate: simkit.SimRun, action: str, service: str, says: str
) -> None:
    result = estate.act(action, service)

    assert result.status is ActionStatus.NOT_APPLICABLE
    assert says in result.detail
    assert result.rollback is None
    assert not result.ok


def test_an_unknown_service_fails_without_calling_aws(estate: simkit.SimRun) -> None:
    result = estate.act("scale-out", "no-such-service")

    assert result.status is ActionStatus.FAILED
    assert "no-such-service" in result.detail


@pytest.mark.parametrize(
    ("action", "service", "params", "error"),
    [
        ("deactivate-access-key", "web", {"access_key_id": "AKIAIOSFODNN7EXAMPLE"}, "NoSuchEntity"),
        ("rollback-deployment", "web", {"to": "web-does-not-exist:9"}, "UpdateService"),
    ],
)
def test_an_aws_refusal_is_a_failed_result_carrying_the_aws_error(
    estate: simkit.SimRun, action: str, service: str, params: dict[str, str], error: str
) -> None:
    result = estate.act(action, service, **params)

    assert result.status is ActionStatus.FAILED
    assert result.error is not None
    assert error in result.error
    assert result.rollback is None
