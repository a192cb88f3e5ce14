"""Read queues on a Redis Cluster: discovery and reads go to each primary for the keys it owns.

The client is a redis.cluster.RedisCluster opened on the configuration endpoint; it supplies the
topology (get_primaries, get_node_from_key) and one plain redis.Redis per node. Every command
sent here names one key and goes to the node that owns that key's slot, so no request can be
CROSSSLOT even when a queue's main, processing and dead-letter lists hash to different slots (and
nodes). Round trips per node are those of the one-node reader: SCAN for discovery, then
ceil(keys on the node / batch_size) pipelines of LLEN per key and LINDEX per queue whose main key
the node owns.

Why pipelines and not monitor.collect.reader's Lua script: the script takes its keys inside one JSON
argument, so the cluster never sees them; a batch of them spans slots, which Redis 7 refuses in a
script (cross-slot access) unless the script is flagged allow-cross-slot-keys, and then only for
keys of the node it runs on. Sending it per node with only that node's keys would work, but leans on
undeclared-key access that Redis documents as unsupported in cluster mode; a pipeline is the
documented way, at about 100k lists/s per connection (docs/aws-facts.md), and per node.

A node that fails (refused, timeout, an error reply such as CLUSTERDOWN, or MOVED during a
resharding) is recorded with its error, and its keys are left unread; the other nodes are still
read. The collector turns failures into ConnectionFailure=1 and ClusterNodeFailures=n.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import redis

from monitor.collect.reader import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DISCOVERY_BUDGET_SECONDS,
    DEFAULT_MAX_KEYS,
    DEFAULT_SCAN_COUNT,
    QueueReading,
    _length,
    _list_index,
    _pipeline_peek,
    discover,
)
from monitor.collect.timestamps import age_seconds
from monitor.spec.sources import QueueSource

# What makes a node "failed" for this run: it cannot be reached, or it answers with an error that is
# about the node or the cluster rather than about one key (WRONGTYPE is per key and not a failure).
NODE_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True)
class NodeFailure:
    node: str  # host:port of the primary
    error: BaseException


@dataclass(frozen=True)
class ClusterDiscovery:
    keys: tuple[str, ...]  # sorted, from every primary that answered
    truncated: bool
    timed_out: bool
    round_trips: int
    undecodable_keys: int
    failures: tuple[NodeFailure, ...]
    round_trips_by_node: dict[str, int]


@dataclass(frozen=True)
class ClusterReadResult:
    readings: tuple[QueueReading, ...]
    round_trips: int
    round_trips_by_node: dict[str, int]
    failures: tuple[NodeFailure, ...]


def discover_cluster(
    cluster,
    pattern: str,
    *,
    scan_count: int = DEFAULT_SCAN_COUNT,
    max_keys: int = DEFAULT_MAX_KEYS,
    time_budget_seconds: float = DEFAULT_DISCOVERY_BUDGET_SECONDS,
    skip_nodes: Iterable[str] = (),
    clock=time.monotonic,
) -> ClusterDiscovery:
    """SCAN every primary (one time budget for all of them); a failing node is reported, not fatal."""
    skip = set(skip_nodes)
    found: set[str] = set()
    failures: list[NodeFailure] = []
    by_node: dict[str, int] = {}
    undecodable = 0
    truncated = timed_out = False
    started = clock()
    for node in cluster.get_primaries():
        if node.name in skip:
            continue
        remaining = time_budget_seconds - (clock() - started)
        if len(found) >= max_keys:
            truncated = True
            break
        if remaining <= 0:
            timed_out = True
            break
        try:
            part = discover(
                cluster.get_redis_connection(node),
                pattern,
                scan_count=scan_count,
                max_keys=max_keys - len(found),
                time_budget_seconds=remaining,
                clock=clock,
            )
        except NODE_ERRORS as error:
            failures.append(NodeFailure(node.name, error))
            continue
        by_node[node.name] = part.round_trips
        undecodable += part.undecodable_keys
        truncated |= part.truncated
        timed_out |= part.timed_out
        found.update(part.keys)
    return ClusterDiscovery(tuple(sorted(found)), truncated, timed_out, sum(by_node.values()), undecodable, tuple(failures), by_node)


def read_cluster(
    cluster,
    sources: Iterable[QueueSource],
    *,
    now: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_nodes: Iterable[str] = (),
) -> ClusterReadResult:
    """Depths and oldest ages of the queues, in order, each key read on its own node."""
    sources = tuple(sources)
    nodes: dict[str, object] = {}
    keys_of: dict[str, list[str]] = {}
    peek_at: dict[str, int] = {}  # main key -> list index of its oldest message
    seen: set[str] = set()
    for source in sources:
        peek_at.setdefault(source.key, _list_index(source))
        for key in (source.key, source.processing_key, source.dead_letter_key):
            if key is not None and key not in seen:
                seen.add(key)
                node = cluster.get_node_from_key(key)
                nodes[node.name] = node
                keys_of.setdefault(node.name, []).append(key)
    lengths: dict[str, int | None] = {}
    peeks: dict[str, tuple] = {}
    by_node: dict[str, int] = {}
    failures: list[NodeFailure] = []
    skip = set(skip_nodes)
    for name, keys in keys_of.items():
        if name in skip:
            continue
        client = cluster.get_redis_connection(nodes[name])
        try:
            for start in range(0, len(keys), batch_size):
                by_node[name] = by_node.get(name, 0) + 1
                _read_keys(client, keys[start : start + batch_size], peek_at, lengths, peeks)
        except NODE_ERRORS as error:
            failures.append(NodeFailure(name, error))
    readings = tuple(_reading(source, lengths, peeks, now) for source in sources)
    return ClusterReadResult(readings, sum(by_node.values()), by_node, tuple(failures))


def _read_keys(client: redis.Redis, keys: list[str], peek_at: dict[str, int], lengths: dict, peeks: dict) -> None:
    """One pipeline on one node: LLEN of each key, LINDEX of each main key; results only once all came."""
    mains = [key for key in keys if key in peek_at]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    for key in mains:
        pipe.lindex(key, peek_at[key])
    replies = pipe.execute(raise_on_error=False)
    batch_lengths = {key: _length(reply) for key, reply in zip(keys, replies)}  # raises unless WRONGTYPE
    batch_peeks = {}
    for key, reply in zip(mains, replies[len(keys) :]):
        if isinstance(reply, Exception):
            _length(reply)
            reply = None
        batch_peeks[key] = reply
    lengths.update(batch_lengths)
    peeks.update(batch_peeks)


def _reading(source: QueueSource, lengths: dict, peeks: dict, now: float) -> QueueReading:
    keys = [k for k in (source.key, source.processing_key, source.dead_letter_key) if k is not None]
    unread = tuple(k for k in keys if k not in lengths)
    wrong_type = tuple(k for k in keys if k in lengths and lengths[k] is None)
    depth = lengths.get(source.key)
    in_flight = lengths.get(source.processing_key) if source.processing_key else None
    dead_letter = lengths.get(source.dead_letter_key) if source.dead_letter_key else None
    age = reason = None
    if depth is not None:
        enqueued_at, reason = _pipeline_peek(peeks.get(source.key), source)
        if enqueued_at is None and reason is None:
            age = 0.0  # empty (or emptied between LLEN and LINDEX)
        elif reason is None:
            age = age_seconds(enqueued_at, now)
    return QueueReading(source, depth, in_flight, dead_letter, age, reason, wrong_type, unread)
