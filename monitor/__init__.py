"""Watch Redis list job queues from AWS CloudWatch."""

__version__ = "0.1.0"
