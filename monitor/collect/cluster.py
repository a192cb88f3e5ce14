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

Streams and delayed sets (monitor.collect.queue_types) go the same way: each command to the owner
of its key, the stream's two pipelined phases (XLEN + XINFO GROUPS, then XPENDING) each one pipeline
per node.

A MOVED reply (the slot moved to another primary between discovery and the read, during a
resharding) is followed once: the command goes again to the primary MOVED names, and the rest of
the run sends that slot's keys there. A second MOVED for the same command leaves that key unread
(QueueReadErrors), without failing a node. A node that fails (refused, timeout, an error reply such
as CLUSTERDOWN or ASK) is recorded with its error, and its keys are left unread; the other nodes are
still read. The collector turns failures into ConnectionFailure=1 and ClusterNodeFailures=n.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import redis
from redis.exceptions import MovedError

from monitor.collect.queue_types import PER_KEY_ERRORS, TypedReadResult, read_typed_with
from monitor.collect.reader import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_DISCOVERY_BUDGET_SECONDS,
    DEFAULT_MAX_DECODE_BYTES,
    DEFAULT_MAX_KEYS,
    DEFAULT_SCAN_COUNT,
    TIMESTAMP_PREFIX_BYTES,
    UNREAD,
    QueueReading,
    discover,
    read_with_pipelines,
)
from monitor.spec.sources import DelayedSource, QueueSource, StreamSource

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
    moved: int = 0  # commands answered MOVED and sent again to the new owner


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
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
    prefix_bytes: int = TIMESTAMP_PREFIX_BYTES,
) -> ClusterReadResult:
    """Depths and oldest ages of the queues, in order, each key read on its own node.

    The reads are those of the one-node pipeline path (reader.read_with_pipelines): counts and oldest
    elements, then the job hashes they name (a second pipelined round trip per node, only for
    presets whose enqueue time lives in a hash).
    """
    sources = tuple(sources)
    router = Router(cluster, batch_size, skip_nodes)
    # One batch for the whole run: a node gets ceil(its commands / batch_size) pipelines per phase.
    readings = read_with_pipelines(router.send, sources, now, max(len(sources), 1), max_decode_bytes, prefix_bytes)
    return router.result(readings)


def read_typed_cluster(
    cluster,
    streams: Iterable[StreamSource],
    delayed: Iterable[DelayedSource],
    *,
    now: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_nodes: Iterable[str] = (),
) -> tuple[TypedReadResult, ClusterReadResult]:
    """Streams and delayed sets, each key read on its own node: the readings, and the cluster's account of the reads."""
    router = Router(cluster, batch_size, skip_nodes)
    stream_readings, delayed_readings = read_typed_with(router.send, streams, delayed, now=now)
    account = router.result(())
    return TypedReadResult(stream_readings, delayed_readings, account.round_trips), account


class Router:
    """Sends commands (name, key, *args) each to the primary owning its key's slot, pipelined per node."""

    def __init__(self, cluster, batch_size: int, skip_nodes: Iterable[str] = ()):
        self.cluster = cluster
        self.batch_size = batch_size
        self.skip = set(skip_nodes)
        self.by_node: dict[str, int] = {}
        self.failures: dict[str, NodeFailure] = {}
        self.moved_slots: dict[int, object] = {}  # slot -> the node a MOVED named, for the rest of the run
        self.moved = 0

    def result(self, readings) -> ClusterReadResult:
        return ClusterReadResult(tuple(readings), sum(self.by_node.values()), dict(self.by_node), tuple(self.failures.values()), self.moved)

    def send(self, commands: list[tuple]) -> list:
        """The replies, in order: errors about one key as exceptions, UNREAD for a failed node's keys."""
        replies: list = [UNREAD] * len(commands)
        owners: dict = {}  # key -> node: a queue's key takes a count and one or two peeks, one slot lookup

        def owner(index: int):
            key = commands[index][1]
            if key not in owners:
                owners[key] = self._owner(key)
            return owners[key]

        self._send(commands, range(len(commands)), replies, owner)
        moved = {index: replies[index] for index in range(len(commands)) if isinstance(replies[index], MovedError)}
        if moved:
            self.moved += len(moved)
            for slot, error in {error.slot_id: error for error in moved.values()}.items():
                node = self._node_at(error)
                if node is not None:
                    self.moved_slots[slot] = node
            self._send(commands, moved, replies, lambda index: self.moved_slots.get(moved[index].slot_id))
        for index, reply in enumerate(replies):
            if isinstance(reply, MovedError):  # moved again (or to an unknown node): not chased further
                replies[index] = UNREAD
        return replies

    def _owner(self, key):
        if self.moved_slots:  # only after a MOVED: hashing every key twice would cost the common case
            node = self.moved_slots.get(self.cluster.keyslot(key))
            if node is not None:
                return node
        return self.cluster.get_node_from_key(key)

    def _node_at(self, error: MovedError):
        """The primary a MOVED reply names, once more from CLUSTER SLOTS if the client does not know it yet."""
        node = self.cluster.get_node(host=error.host, port=error.port)
        if node is None:
            self.cluster.nodes_manager.initialize()
            node = self.cluster.get_node(host=error.host, port=error.port)
        return node

    def _send(self, commands: list[tuple], indexes: Iterable[int], replies: list, route) -> None:
        grouped: dict[str, list[int]] = {}
        nodes = {}
        for index in indexes:
            node = route(index)
            if node is None:
                continue
            nodes[node.name] = node
            grouped.setdefault(node.name, []).append(index)
        for name, mine in grouped.items():
            if name in self.skip or name in self.failures:
                continue
            client = self.cluster.get_redis_connection(nodes[name])
            try:
                for chunk in _by_keys(mine, commands, self.batch_size):
                    pipe = client.pipeline(transaction=False)
                    for index in chunk:
                        getattr(pipe, commands[index][0])(*commands[index][1:])
                    self.by_node[name] = self.by_node.get(name, 0) + 1
                    answers = pipe.execute(raise_on_error=False)
                    for answer in answers:
                        if isinstance(answer, NODE_ERRORS) and not _per_key(answer):
                            raise answer
                    for index, answer in zip(chunk, answers):
                        replies[index] = answer
            except NODE_ERRORS as error:
                self.failures[name] = NodeFailure(name, error)
                for index in mine:
                    replies[index] = UNREAD


def _by_keys(indexes: list[int], commands: list[tuple], batch_size: int):
    """The commands in chunks that each name at most batch_size distinct keys (a pipeline each)."""
    first: dict = {}
    for index in indexes:
        first.setdefault(commands[index][1], index)
    chunk: list[int] = []
    keys: set = set()
    for index in sorted(indexes, key=lambda i: first[commands[i][1]]):
        key = commands[index][1]
        if key not in keys and len(keys) == batch_size:
            yield chunk
            chunk, keys = [], set()
        keys.add(key)
        chunk.append(index)
    if chunk:
        yield chunk


def _per_key(error: BaseException) -> bool:
    """True for an error about one key (WRONGTYPE, a stream's missing key or group, MOVED), which the
    reading reports or the router follows; False for a node failure."""
    if isinstance(error, MovedError):
        return True
    return isinstance(error, redis.ResponseError) and not isinstance(error, redis.exceptions.AskError) and str(error).startswith(PER_KEY_ERRORS)
