"""The Redis side: reaching Redis, reading queues read-only, and publishing what was read.

Here live the connection settings and client (connection), the readers per Redis type (reader for
lists, queue_types for streams and delayed sets, cluster for Redis Cluster), enqueue-time parsing
(timestamps), the metric payloads and their sending (publish) and one collection run (collector).
May import: monitor.spec, monitor.errors, redis; boto3 only where it publishes (collector, publish).
"""
