"""Integrations with training frameworks, each behind an optional extra.

Nothing here is imported by ``import manifold``: import the integration itself, e.g.
``from manifold.integrations.lightning import MonitorCallback`` (``pip install
manifold-geometry[lightning]``).
"""

__all__: list[str] = []
