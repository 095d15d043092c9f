"""One session per target address across processes: a lease in the table.

Another probe instance holding an address (a claim in the real DynamoDB-
compatible server) makes this check wait, and at its deadline report the
address as not attempted — the server sees no second connection.
"""

from __future__ import annotations

import os

from bannercheck.codec import to_dict
from bannercheck.model import StepStatus
from bannercheck.probe_job import TableAddressLease
from bannercheck.scan import run_check
from bannercheck.store import CheckStore

from tests.fixtures.dynamodb import DynamoServer
from tests.lab import Lab
from tests.reportcheck import assert_valid_report


def test_a_held_address_is_not_probed_twice(stack_env: DynamoServer, lab: Lab) -> None:
    store = CheckStore(os.environ["TABLE_NAME"], client=stack_env.client())
    (ip,) = lab.addresses("mx.single.test")
    other_probe = TableAddressLease(store)
    assert other_probe.acquire(ip, 60)
    before = lab.connections(ip)

    settings = lab.settings(allow_private=True, timeout_s=1.5)
    report = run_check("single.test", settings, lease=TableAddressLease(store))
    assert_valid_report(to_dict(report))
    (session,) = report.sessions()
    assert session.status is StepStatus.NOT_ATTEMPTED
    assert "another check held this address" in (session.error or "")
    assert "PROBE_NOT_ATTEMPTED" in {f.code for f in report.findings}
    assert lab.connections(ip) == before

    other_probe.release(ip)
    report = run_check("single.test", settings, lease=TableAddressLease(store))
    assert_valid_report(to_dict(report))
    (session,) = report.sessions()
    assert session.status is StepStatus.OK
    assert lab.connections(ip) == before + 1
    # Released after the session: the next holder gets it at once.
    assert other_probe.acquire(ip, 60)
