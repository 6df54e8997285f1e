"""Read one number from a node process's ``/metrics`` (Prometheus text format).

Each process counts its own work (docs/deploy.md §6), so a test that splits a node
into processes scrapes each one; the queue gauges are read from the shared database
and are the same whichever process answers. A direct request from loopback needs no
token.
"""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.nodes import MutualNode

__all__ = ["metric"]


async def metric(node: MutualNode, name: str, **labels: str) -> float:
    """The sample ``name`` whose labels include ``labels``; 0 when there is none yet
    (a counter appears with its first increment)."""
    status, text = await node.get(f"{node.url}/metrics", headers={"Accept": "text/plain"})
    assert status == 200, (status, text)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return float(sample.value)
    return 0.0
