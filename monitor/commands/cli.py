"""The provision-alarms command line: `main(argv) -> ExitStatus`; only entry_point exits."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

import yaml

from monitor import __version__
from monitor.errors import ExitStatus, MonitorError, SpecError, UsageError
from monitor.spec.declaration import DEFAULT_SPEC_PATH, json_schema
from monitor.spec.load import load_spec, problems_text
from monitor.spec.model import Spec

Handler = Callable[[argparse.Namespace], ExitStatus]


def add_spec_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec", default=os.environ.get("MONITOR_SPEC", DEFAULT_SPEC_PATH), help="the spec file (default: $MONITOR_SPEC or ./alarms.yaml)"
    )
    parser.add_argument(
        "--env", default=os.environ.get("MONITOR_ENV"), help="environment in the spec (default: $MONITOR_ENV, else the first one)"
    )


def add_aws_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", help="AWS region (default: the environment's region, then the AWS configuration)")
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--endpoint-url", help="AWS endpoint URL (e.g. a local emulator)")


def add_provision_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prune", action="store_true", help="also delete alarms this spec owns (by tag) but no longer declares")
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.add_argument(
        "--no-metric-check", dest="metric_check", action="store_false", help="skip the ListMetrics check for alarms that can never fire"
    )


def load(args: argparse.Namespace, *, all_environments: bool = False) -> Spec:
    """Load the spec named by --spec, validated for --env (or for every environment)."""
    return load_spec(args.spec, env=None if all_environments else args.env)


def emit(data, output: str) -> None:
    if output == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, width=120))
    else:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> ExitStatus:
    from monitor.cloudwatch.alarms import render_alarms

    spec = load(args, all_environments=args.env is None)
    for problem in spec.warnings:
        warn(str(problem))
    envs = [spec.environment(args.env)] if args.env else list(spec.environments.values())
    counts = ", ".join(f"{len(render_alarms(spec, e))} alarms in {e.name}" for e in envs)
    print(
        f"{spec.path}: valid ({len(spec.queues)} queues, {len(spec.patterns)} patterns, "
        + (f"{len(spec.streams)} streams, {len(spec.delayed)} delayed sets, " if spec.streams or spec.delayed else "")
        + f"{len(spec.environments)} environments; {counts})"
    )
    return ExitStatus.SUCCESS


def render_document(spec: Spec, env_name: str | None) -> dict:
    from monitor.cloudwatch.alarms import render_alarms
    from monitor.cloudwatch.dashboard import render_dashboard

    from monitor.spec.presets import expansion

    env = spec.environment(env_name)
    alarms = render_alarms(spec, env)
    name, body = render_dashboard(spec, env, alarms=alarms)
    document = {
        "spec": spec.path,
        "environment": env.name,
        "namespace": spec.namespace,
        "alarms": alarms,
        "dashboard": {"name": name, "body": body},
    }
    presets = [expansion(q) for q in spec.queues if q.framework]
    if presets:
        document["presets"] = presets  # what each framework queue reads
    return document


def cmd_render(args: argparse.Namespace) -> ExitStatus:
    from monitor.cloudwatch import iac

    fmt = iac.Format(args.format)
    if fmt is iac.Format.TERRAFORM and args.output != "json":
        raise UsageError("--format terraform is Terraform JSON (*.tf.json): use --output json")
    spec = load(args)
    emit(iac.render(fmt, render_document(spec, args.env)), args.output)
    return ExitStatus.SUCCESS


def cmd_status(args: argparse.Namespace) -> ExitStatus:
    from monitor.commands import status

    spec = load(args)
    env = spec.environment(args.env)
    from monitor.cloudwatch import clients as aws

    cloudwatch = aws.clients(region=args.region or env.region, profile=args.profile, endpoint_url=args.endpoint_url).cloudwatch
    return status.run(spec, env, cloudwatch, output=args.output, watch=args.watch, since=args.since)


def _since(text: str):
    from monitor.commands.status import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, found '{text}'")
    return value


def cmd_schema(args: argparse.Namespace) -> ExitStatus:
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return ExitStatus.SUCCESS


def cmd_collect(args: argparse.Namespace) -> ExitStatus:
    import time

    from monitor.collect.collector import collectors_with_clients

    spec = load(args)
    env = spec.environment(args.env)
    collectors = collectors_with_clients(
        spec, env, region=args.region or env.region, endpoint_url=args.endpoint_url, profile=args.profile, dry_run=args.dry_run
    )
    while True:
        summaries = [collector.run() for collector in collectors]  # MONITOR_TARGET's, or every target
        if args.dry_run and args.output == "json":
            emit([d for collector in collectors for d in collector.last_datums], "json")
        if args.once:
            break
        time.sleep(args.interval)
    if any(s.publish_errors for s in summaries):
        return ExitStatus.AWS_FAILURE
    return ExitStatus.REDIS_FAILURE if any(s.connection_failure for s in summaries) else ExitStatus.SUCCESS


def cmd_verify(args: argparse.Namespace) -> ExitStatus:
    from monitor.cloudwatch import clients as aws_factory
    from monitor.commands import verify

    spec = load(args)
    env = spec.environment(args.env)
    aws = aws_factory.clients(region=args.region or env.region, profile=args.profile, endpoint_url=args.endpoint_url)
    return verify.run(spec, env, aws.client, environ=os.environ, output=args.output)


def cmd_doctor(args: argparse.Namespace) -> ExitStatus:
    from monitor.cloudwatch import clients as aws_factory
    from monitor.commands import doctor

    spec = load(args)
    env = spec.environment(args.env)
    aws = aws_factory.clients(region=args.region or env.region, profile=args.profile, endpoint_url=args.endpoint_url)
    return doctor.run(spec, env, environ=os.environ, secrets_factory=lambda: aws.client("secretsmanager"), output=args.output)


def cmd_demo(args: argparse.Namespace) -> ExitStatus:
    from monitor.commands.demo import run_demo

    run_demo(args.spec, sys.stdout, main)
    return ExitStatus.SUCCESS


# ---------------------------------------------------------------- plan / apply


def _provision_plan(args: argparse.Namespace):
    """Validate the spec, then read CloudWatch and compute the plan: (context dict, plan, aws, estimate)."""
    from monitor.cloudwatch import api as cloudwatch
    from monitor.cloudwatch import clients as aws_factory
    from monitor.cloudwatch import cost
    from monitor.cloudwatch.alarms import render_alarms
    from monitor.cloudwatch.dashboard import render_dashboard
    from monitor.cloudwatch.plan import JSON_SCHEMA_VERSION, plan, reports_evaluation_window, silent_alarm_warnings
    from monitor.spec import naming

    spec = load(args)  # raises before any AWS client exists
    env = spec.environment(args.env)
    for problem in spec.warnings:
        warn(str(problem))
    if args.command == "apply" and not args.yes and not sys.stdin.isatty():
        raise UsageError("apply needs --yes when stdin is not a terminal; nothing was changed")
    desired = render_alarms(spec, env)
    dashboard = render_dashboard(spec, env, alarms=desired)
    owner = naming.spec_identity(spec.name_prefix, env.name)
    aws = aws_factory.clients(region=args.region or env.region, profile=args.profile, endpoint_url=args.endpoint_url)
    live = cloudwatch.read_live(
        aws, desired, prefix=f"{spec.name_prefix}-{env.name}-", owner=owner, dashboard_name=dashboard[0], confirm_owned=args.prune
    )
    # boto3 also takes the endpoint from AWS_ENDPOINT_URL(_CLOUDWATCH): ask the client where it went.
    window_reported = reports_evaluation_window(aws.cloudwatch.meta.endpoint_url)
    result = plan(
        desired, live.alarms, dashboard, live.dashboard, owner=owner, prune=args.prune, actual_detectors=live.detectors, window_reported=window_reported
    ).with_warnings(live.warnings)
    if args.metric_check:
        result = result.with_warnings(silent_alarm_warnings(desired, cloudwatch.read_published(aws, desired)))
    context = {"schema_version": JSON_SCHEMA_VERSION, "spec": spec.path, "environment": env.name, "owner": owner, "region": aws.region, "alarms": len(desired), "dashboard": dashboard[0]}
    return context, result, aws, cost.estimate(spec, desired, env)


def _calls_line(aws) -> str:
    def one(op: str, n: int) -> str:
        tried = aws.attempts.get(op, n)
        return f"{op} {n}" + (f" ({tried} attempts)" if tried > n else "")

    calls = ", ".join(one(op, n) for op, n in sorted(aws.calls.items())) or "none"
    writes = sum(n for op, n in aws.calls.items() if not op.startswith(("Describe", "Get", "List")))
    retries = f", {aws.retries} retries" if aws.retries else ""
    return f"AWS calls: {calls} ({writes} writes{retries})"


def _print_plan(context: dict, result, estimate) -> None:
    print(
        f"{context['owner']} in {context['region']}: {context['alarms']} alarms and dashboard {context['dashboard']} "
        f"from {context['spec']}"
    )
    lines = [line for change in result.changes for line in change.lines()]
    lines += [c.line() for c in result.conflicts]
    lines += [f"! warning: {w}" for w in result.warnings]
    if lines:
        print()
        print("\n".join(lines))
    print()
    print(result.summary())
    print(estimate.line())


def _cost_json(estimate) -> dict:
    return {
        "alarms": estimate.alarms,
        "standard_alarm_metrics": estimate.standard_alarm_metrics,
        "high_resolution_alarm_metrics": estimate.high_resolution_alarm_metrics,
        "custom_metrics": estimate.custom_metrics,
        "put_metric_data_requests_per_month": estimate.put_requests_per_month,
        "monthly_usd": round(estimate.monthly_usd, 2),
        "line": estimate.line(),
    }


def cmd_plan(args: argparse.Namespace) -> ExitStatus:
    context, result, aws, estimate = _provision_plan(args)
    if args.output == "json":
        emit({**context, "plan": result.to_json(), "cost": _cost_json(estimate), "api_calls": dict(aws.calls)}, "json")
    else:
        _print_plan(context, result, estimate)
        print(_calls_line(aws))
    if args.detailed_exitcode and not result.converged:
        return ExitStatus.CHANGES_PENDING
    return ExitStatus.SUCCESS


def confirm(question: str) -> bool:
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip() == "yes"


def _outcome_line(outcome) -> str:
    header = outcome.change.lines()[0]
    if outcome.ok:
        return f"  ok      {header}"
    tries = f" ({outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''})"
    return f"  FAILED  {header}: {outcome.error}{tries}"


def _apply_progress(total: int, output: str):
    """The progress shown on stderr while apply writes (none for JSON off a terminal); and its close."""
    from monitor.commands.progress import Progress

    if output == "json" and not sys.stderr.isatty():
        return None, lambda: None
    shown = Progress(sys.stderr, total)
    return (lambda r: shown(len(r.outcomes), len(r.failed))), shown.close


def cmd_apply(args: argparse.Namespace) -> ExitStatus:
    from monitor.cloudwatch import api as cloudwatch

    context, result, aws, estimate = _provision_plan(args)
    text = args.output == "text"
    if text:
        _print_plan(context, result, estimate)
    if result.changes and not args.yes:
        question = f"Apply these {len(result.changes)} changes to {context['owner']} in {context['region']}? Only 'yes' is accepted: "
        if not confirm(question):
            print("Apply cancelled: nothing was changed.", file=sys.stderr)
            return ExitStatus.CHANGES_PENDING
    progress, close_progress = _apply_progress(len(result.changes), args.output) if result.changes else (None, lambda: None)
    try:
        report = cloudwatch.execute(result, aws, put_rate=args.write_rate, delete_rate=args.write_rate, progress=progress)
    finally:
        close_progress()
    if text:
        if report.outcomes or report.interrupted:
            print()
        for outcome in report.outcomes:
            print(_outcome_line(outcome))
        for change in report.in_flight:
            print(f"  UNKNOWN {change.lines()[0]}: interrupted during the call; the next plan shows whether it happened")
        for change in report.not_done:
            print(f"  pending {change.lines()[0]} (not started)")
        print()
        if report.interrupted:
            print(
                f"Apply interrupted: {len(report.succeeded)} succeeded, {len(report.failed)} failed, "
                f"{len(report.in_flight)} interrupted during the call, {len(report.not_done)} not started."
            )
        else:
            print(f"Apply: {len(report.succeeded)} succeeded, {len(report.failed)} failed, {len(result.conflicts)} conflicts left as they are.")
        print(_calls_line(aws))
    else:
        document = {
            **context,
            "plan": result.to_json(),
            "cost": _cost_json(estimate),
            "report": [
                {
                    "action": o.change.action.value,
                    "resource": o.change.resource,
                    "name": o.change.name,
                    "ok": o.ok,
                    "error": o.error,
                    "attempts": o.attempts,
                }
                for o in report.outcomes
            ],
            "api_calls": dict(aws.calls),
            "api_attempts": dict(aws.attempts),
            "retries": aws.retries,
        }
        if report.interrupted:
            document["interrupted"] = {"in_flight": [c.name for c in report.in_flight], "not_done": [c.name for c in report.not_done]}
        emit(document, "json")
    if report.interrupted:
        left = len(report.in_flight) + len(report.not_done) + len(report.failed)
        print(f"interrupted: {len(report.succeeded)} of {len(result.changes)} changes done, {left} left; run apply again to finish", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    if report.failed:
        print(f"error: {len(report.failed)} of {len(report.outcomes)} changes failed; run apply again to finish", file=sys.stderr)
        return ExitStatus.AWS_FAILURE
    if result.conflicts:
        print(f"error: {len(result.conflicts)} alarm names are taken by alarms this spec does not own", file=sys.stderr)
        return ExitStatus.AWS_FAILURE
    return ExitStatus.SUCCESS


def cmd_test(args: argparse.Namespace) -> ExitStatus:
    from monitor.truth import scenarios

    spec = load(args)
    files = args.files or scenarios.default_files(args.spec)
    results = scenarios.run_files(files, spec, args.env)
    sys.stdout.write(scenarios.report(results))
    return scenarios.exit_status(results)


def cmd_explain(args: argparse.Namespace) -> ExitStatus:
    from monitor.truth import scenarios

    spec = load(args)
    from monitor.spec.presets import expansion_text

    index = scenarios.AlarmIndex.build(spec, spec.environment(args.env))
    if not args.alarms:
        for queue in spec.queues:
            if queue.framework:
                sys.stdout.write(expansion_text(queue) + "\n")
    sys.stdout.write(scenarios.explain_text(index, index.select(args.alarms)))
    return ExitStatus.SUCCESS


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from monitor.cloudwatch.api import PUT_METRIC_ALARM_TPS

    parser = argparse.ArgumentParser(
        prog="provision-alarms",
        description="Watch Redis list job queues from AWS CloudWatch: validate the spec, render and reconcile its alarms.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("validate", help="check the spec and report every problem")
    add_spec_args(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("render", help="print the CloudWatch alarm definitions the spec produces (offline)")
    add_spec_args(p)
    p.add_argument("--output", choices=("json", "yaml"), default="json")
    p.add_argument(
        "--format",
        choices=("api", "cloudformation", "terraform"),
        default="api",
        help="api: the PutMetricAlarm/PutDashboard parameters (default); cloudformation: a template; terraform: *.tf.json",
    )
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("status", help="alarm states and latest queue metrics, one row per queue, worst first")
    add_spec_args(p)
    add_aws_args(p)
    p.add_argument("--watch", type=_positive_seconds, metavar="SECONDS", help="refresh every SECONDS until Ctrl-C")
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.add_argument(
        "--since", type=_since, default="30m", metavar="DURATION", help="trend window: sparkline and change over e.g. 30m (default), 2h, 1d"
    )
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec (for editors)")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("collect", help="run the collector locally: read the queues and publish their metrics")
    add_spec_args(p)
    add_aws_args(p)
    p.add_argument("--once", action="store_true", help="one collection, then exit (default: every --interval seconds)")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between collections (default 60)")
    p.add_argument("--dry-run", action="store_true", help="read and print the metrics without publishing them")
    p.add_argument("--output", choices=("json", "none"), default="json", help="with --dry-run: print the metric data")
    p.set_defaults(handler=cmd_collect)

    for name, help_text, handler in (
        ("plan", "show what apply would change in CloudWatch (reads only)", cmd_plan),
        ("apply", "make CloudWatch match the spec: exactly the changes plan shows", cmd_apply),
    ):
        p = sub.add_parser(name, help=help_text)
        add_spec_args(p)
        add_aws_args(p)
        add_provision_args(p)
        if name == "plan":
            p.add_argument("--detailed-exitcode", action="store_true", help=f"exit {int(ExitStatus.CHANGES_PENDING)} when the plan is not empty")
        else:
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation (needed when stdin is not a terminal)")
            p.add_argument(
                "--write-rate",
                type=float,
                default=PUT_METRIC_ALARM_TPS,
                metavar="TPS",
                help=f"PutMetricAlarm and DeleteAlarms calls per second at most (default {PUT_METRIC_ALARM_TPS:g}, the AWS quota; 0: unpaced, for an emulator)",
            )
        p.set_defaults(handler=handler)

    p = sub.add_parser("verify", help="post-deployment checks: secret, Redis, queue keys, collector heartbeat, alarms, dashboard")
    add_spec_args(p)
    add_aws_args(p)
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("doctor", help="read the queues' keys (read-only) and report every alarm that would be blind")
    add_spec_args(p)
    add_aws_args(p)
    p.add_argument("--output", choices=("table", "json"), default="table")
    p.set_defaults(handler=cmd_doctor)

    p = sub.add_parser("test", help="run alarm scenarios against the rendered alarms (offline)")
    p.add_argument("files", nargs="*", metavar="FILE", help="scenario files (default: every *.yaml under scenarios/ next to the spec)")
    add_spec_args(p)
    p.set_defaults(handler=cmd_test)

    p = sub.add_parser("explain", help="say in words when each alarm fires and clears")
    p.add_argument("alarms", nargs="*", metavar="ALARM", help="full name, QUEUE/KIND/TIER or part of a name (default: every alarm)")
    add_spec_args(p)
    p.set_defaults(handler=cmd_explain)

    p = sub.add_parser("demo", help="run the whole job on a local redis-server and AWS emulator (no AWS account)")
    p.add_argument("--spec", default=DEFAULT_SPEC_PATH, help="the spec file; its 'demo' environment is used (default: ./alarms.yaml)")
    p.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> ExitStatus:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return ExitStatus.SUCCESS if exc.code in (0, None) else ExitStatus.INVALID
    try:
        return args.handler(args)
    except SpecError as exc:
        print(problems_text(exc), file=sys.stderr)
        return exc.exit_status
    except MonitorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        return ExitStatus.SUCCESS
    except Exception as exc:  # a bug: one line for the person, the traceback only on request
        if os.environ.get("MONITOR_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (set MONITOR_DEBUG=1 for the traceback)", file=sys.stderr)
        return ExitStatus.ERROR


def entry_point() -> None:
    sys.exit(int(main()))
