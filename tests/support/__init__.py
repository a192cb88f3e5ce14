"""Helpers for tests that talk to real redis-server processes and the AWS emulator."""
