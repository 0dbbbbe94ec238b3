"""The subcommands of `pinterest-etl`, one module each."""
