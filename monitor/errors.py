"""One base exception, split by phase; the command line maps each to one exit status."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Exit statuses of provision-alarms (documented in the README)."""

    SUCCESS = 0
    ERROR = 1  # unexpected internal error (a bug): reported in one line, never a traceback
    INVALID = 2  # invalid spec or command-line usage
    AWS_FAILURE = 3
    REDIS_FAILURE = 4
    CHANGES_PENDING = 5  # plan --detailed-exitcode: the plan is not empty
    CHECK_FAILED = 6  # a scenario, verification or status check failed / something is in ALARM
    INTERRUPTED = 130


class MonitorError(Exception):
    """Base of every error this tool reports to a person."""

    exit_status = ExitStatus.ERROR


class SpecError(MonitorError):
    """The spec (or the command line) is invalid; carries every problem found."""

    exit_status = ExitStatus.INVALID

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(MonitorError):
    exit_status = ExitStatus.INVALID


class AwsError(MonitorError):
    exit_status = ExitStatus.AWS_FAILURE


class RedisError(MonitorError):
    exit_status = ExitStatus.REDIS_FAILURE


class CheckFailed(MonitorError):
    exit_status = ExitStatus.CHECK_FAILED
