"""Local Pinterest API v5 simulator: a real HTTP server over a deterministic synthetic world.

`running_sandbox(config)` starts it in-process on a free port and yields its base URL;
`pinterest-etl sandbox` runs it in the foreground.
"""

from pipelines.sandbox.config import SandboxConfig
from pipelines.sandbox.server import SandboxServer, running_sandbox

__all__ = ["SandboxConfig", "SandboxServer", "running_sandbox"]
