"""The spec side: alarms.yaml loaded, checked and turned into frozen typed objects (pure).

Here live the YAML loader that keeps positions (yamlload), the schema language (schema), the spec's
declared shape and JSON Schema (declaration), loading and validation (load, with the builder's parts
in build_queues, build_rules, build_targets and checks), the frozen typed objects (model), the queue
sources (sources), the alarm kinds (kinds), evaluation windows and time zones (windows), the metric
catalogue (metrics), runbook links (runbooks), durations and ages in words (durations) and the
names and tags of everything the tool creates (naming).
May import: the standard library, PyYAML and monitor.errors; never boto3, redis or another
monitor subpackage.
"""
