"""The spec side: alarms.yaml loaded, checked and turned into frozen typed objects (pure).

Here live the YAML loader that keeps positions (yamlload), the schema language (schema), the spec's
declaration, validation and model (model), the queue sources (sources), the alarm kinds (kinds),
the metric catalogue (metrics), the names and tags of everything the tool creates (naming) and
runbook references (runbooks).
May import: the standard library, PyYAML and monitor.errors; never boto3, redis or another
monitor subpackage.
"""
