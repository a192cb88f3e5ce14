"""The command line: `provision-alarms` and its subcommands, each a thin shell over the other packages.

Here live cli (argument parsing, one exit status per error), status, verify, doctor and demo.
May import every other monitor subpackage; nothing else imports it.
"""
