"""Subcommands of the ``hwq`` CLI, one module each (see :mod:`hwq.cli`)."""
