"""The provision-alarms command line: `main(argv) -> ExitStatus`; only entry_point exits."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

import yaml

from monitor import __version__
from monitor.errors import ExitStatus, MonitorError, SpecError
from monitor.spec import DEFAULT_SPEC_PATH, Spec, json_schema, load_spec, problems_text

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


def load(args: argparse.Namespace, *, all_environments: bool = False) -> Spec:
    """Load the spec named by --spec, validated for --env (or for every environment)."""
    return load_spec(args.spec, env=None if all_environments else args.env)


def emit(data, output: str) -> None:
    if output == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, width=120))
    else:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> ExitStatus:
    from monitor.alarms import render_alarms

    spec = load(args, all_environments=args.env is None)
    for problem in spec.warnings:
        warn(str(problem))
    envs = [spec.environment(args.env)] if args.env else list(spec.environments.values())
    counts = ", ".join(f"{len(render_alarms(spec, e))} alarms in {e.name}" for e in envs)
    print(
        f"{spec.path}: valid ({len(spec.queues)} queues, {len(spec.patterns)} patterns, "
        f"{len(spec.environments)} environments; {counts})"
    )
    return ExitStatus.SUCCESS


def render_document(spec: Spec, env_name: str | None) -> dict:
    from monitor.alarms import render_alarms

    env = spec.environment(env_name)
    return {"spec": spec.path, "environment": env.name, "namespace": spec.namespace, "alarms": render_alarms(spec, env)}


def cmd_render(args: argparse.Namespace) -> ExitStatus:
    spec = load(args)
    emit(render_document(spec, args.env), args.output)
    return ExitStatus.SUCCESS


def cmd_schema(args: argparse.Namespace) -> ExitStatus:
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return ExitStatus.SUCCESS


def cmd_demo(args: argparse.Namespace) -> ExitStatus:
    status = cmd_validate(args)
    if status is ExitStatus.SUCCESS:
        status = cmd_render(args)
    return status


def cmd_test(args: argparse.Namespace) -> ExitStatus:
    from monitor import scenarios

    spec = load(args)
    files = args.files or scenarios.default_files(args.spec)
    results = scenarios.run_files(files, spec, args.env)
    sys.stdout.write(scenarios.report(results))
    return scenarios.exit_status(results)


def cmd_explain(args: argparse.Namespace) -> ExitStatus:
    from monitor import scenarios

    spec = load(args)
    index = scenarios.AlarmIndex.build(spec, spec.environment(args.env))
    sys.stdout.write(scenarios.explain_text(index, index.select(args.alarms)))
    return ExitStatus.SUCCESS


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
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
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec (for editors)")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("test", help="run alarm scenarios against the rendered alarms (offline)")
    p.add_argument("files", nargs="*", metavar="FILE", help="scenario files (default: every *.yaml under scenarios/ next to the spec)")
    add_spec_args(p)
    p.set_defaults(handler=cmd_test)

    p = sub.add_parser("explain", help="say in words when each alarm fires and clears")
    p.add_argument("alarms", nargs="*", metavar="ALARM", help="full name, QUEUE/KIND/TIER or part of a name (default: every alarm)")
    add_spec_args(p)
    p.set_defaults(handler=cmd_explain)

    p = sub.add_parser("demo", help="run the whole job on a local redis-server and AWS emulator")
    add_spec_args(p)
    p.add_argument("--output", choices=("json", "yaml"), default="json")
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
