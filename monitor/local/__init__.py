"""Local stand-ins for the demo and the tests: a throwaway redis-server, the AWS emulator, sample messages.

May import: monitor.errors, redis, and (in emulator, at call time) moto; nothing in the product
imports it except monitor.commands.demo.
"""
