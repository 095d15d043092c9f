"""``make slack``: a newcomer sees the Slack output without a workspace.

The script the Makefile runs (``scripts/slack_local.py``) signs a slash command
with the local signing secret, posts it to ``make run`` (here on a free port,
with the lab), and prints the acknowledgement and the findings message that the
probe posts to the script's own ``response_url``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.test_local_stack import ROOT, local_stack

pytestmark = pytest.mark.integration


def test_make_slack_prints_the_acknowledgement_and_the_findings_message(tmp_path: Path) -> None:
    with local_stack(tmp_path) as run:
        port = run.base.rsplit(":", 1)[1]
        done = subprocess.run(
            [sys.executable, "scripts/slack_local.py", "--port", port, "good.test"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert done.returncode == 0, done.stdout + done.stderr
    ack, _, result = done.stdout.partition("posted to the response_url (the findings message)")
    assert "immediate reply (the acknowledgement)" in ack
    assert "Checking *good.test*…" in ack and "(only visible to you)" in ack
    assert result, done.stdout
    assert "(only visible to you)" in result
    assert "good.test — " in result and "grade " in result  # the header
    assert "Greeting `" in result  # an MX host of the lab, as Slack shows it
    assert "[ Re-run ]  [ Watch daily ]  [ Share in channel ]" in result
