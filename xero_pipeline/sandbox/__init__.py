"""A local stand-in for Xero's identity and Accounting APIs, served over HTTP on loopback.

The pipeline, its tests, benchmarks and `make run` all meet "Xero" here; the pipeline only
swaps base URLs. `Sandbox` (in `app.py`) is the entry point.
"""

from xero_pipeline.sandbox.app import Sandbox, SandboxConfig

__all__ = ["Sandbox", "SandboxConfig"]
