"""The Dagster code location: the one `Definitions` object that `workspace.yaml` loads."""

import dagster as dg

# Assets, checks, schedules and resources join this object as the pipeline issues land them.
defs = dg.Definitions()
