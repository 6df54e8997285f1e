"""Prometheus metrics of one node process (``prometheus-client``).

Each process has its own registry (not the library's global one), so several nodes in
one test process never share counters, and each process answers ``/metrics`` with its
own counts: a scraper scrapes every web process and every worker, as it would the
several processes of any server. Counters count what this process did:

- ``mutual_inbox_accepted_total{result}``: inbox POSTs answered 202, ``stored`` or
  ``duplicate`` (an id already stored);
- ``mutual_inbox_refused_total{reason}``: inbox POSTs refused, by the ``reason`` of
  the JSON answer (``bad-signature``, ``digest-mismatch``, ``rate-limited``...);
- ``mutual_deliveries_total{outcome}``: delivery attempts of the worker, ``ok``,
  ``retry`` (failed, scheduled again), ``gone`` (410: the actor is gone), ``buried``
  (given up) or ``deferred`` (its host is paused: put back untried);
- ``mutual_delivery_host_failures_total{host}``: failed attempts per remote host,
  for the hosts that failed most recently (at most ``MAX_HOSTS`` series, so that a
  fediverse of dead hosts cannot grow the scrape without bound).

Gauges that describe the shared queue are read from the database at scrape time
(node/routes/health.py), so every process reports the same values:
``mutual_queue_jobs{kind,state}`` and ``mutual_queue_oldest_due_seconds{kind}``.
"""

from __future__ import annotations

from collections import OrderedDict

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["INBOX_RESULT", "MAX_HOSTS", "REFUSAL_REASON", "Metrics"]

MAX_HOSTS = 500
# What the inbox pipeline and the error middleware tell the metrics middleware.
INBOX_RESULT = web.RequestKey("inbox_result", str)
REFUSAL_REASON = web.RequestKey("refusal_reason", str)
DELIVERY_OUTCOMES = ("ok", "retry", "gone", "buried", "deferred")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbox_accepted = Counter(
            "mutual_inbox_accepted", "Inbox POSTs accepted (202), stored or duplicate",
            ["result"], registry=self.registry)
        self.inbox_refused = Counter(
            "mutual_inbox_refused", "Inbox POSTs refused, by the reason answered",
            ["reason"], registry=self.registry)
        self.deliveries = Counter(
            "mutual_deliveries", "Delivery attempts by outcome", ["outcome"],
            registry=self.registry)
        self.host_failures = Counter(
            "mutual_delivery_host_failures", "Failed delivery attempts per remote host",
            ["host"], registry=self.registry)
        self.queue_jobs = Gauge(
            "mutual_queue_jobs", "Jobs in the shared queue (read at scrape time)",
            ["kind", "state"], registry=self.registry)
        self.queue_oldest_due = Gauge(
            "mutual_queue_oldest_due_seconds",
            "How long the most overdue claimable job of a kind has been due (0: none is)",
            ["kind"], registry=self.registry)
        for result in ("stored", "duplicate"):
            self.inbox_accepted.labels(result=result)
        for outcome in DELIVERY_OUTCOMES:
            self.deliveries.labels(outcome=outcome)
        self._hosts: OrderedDict[str, None] = OrderedDict()

    def delivery(self, outcome: str) -> None:
        self.deliveries.labels(outcome=outcome).inc()

    def host_failed(self, host: str) -> None:
        """Count a failure of ``host``; the least recently failing host's series goes
        when there are more than ``MAX_HOSTS`` (a scraper sees it as a reset)."""
        self.host_failures.labels(host=host).inc()
        self._hosts[host] = None
        self._hosts.move_to_end(host)
        while len(self._hosts) > MAX_HOSTS:
            old, _ = self._hosts.popitem(last=False)
            self.host_failures.remove(old)

    def inbox_answered(self, request: web.Request, status: int) -> None:
        if status < 300:
            self.inbox_accepted.labels(result=request.get(INBOX_RESULT, "stored")).inc()
        else:
            self.inbox_refused.labels(reason=request.get(REFUSAL_REASON, str(status))).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
