"""The test lab: real Knot DNS, Postfix and scripted SMTP peers on a private loopback /24."""

from tests.lab.lab import Lab
from tests.lab.process import LabError
from tests.lab.spec import LabDomain

__all__ = ["Lab", "LabDomain", "LabError"]
