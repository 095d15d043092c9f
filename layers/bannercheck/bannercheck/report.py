"""Verdict, grade and exit status from findings. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from bannercheck.model import Finding, Severity, Verdict


def to_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    counts = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in Severity}


def to_verdict(findings: Iterable[Finding]) -> Verdict:
    """Any fail -> fail; else any inconclusive -> inconclusive; else warn/pass."""
    counts = to_counts(findings)
    if counts[Severity.FAIL]:
        return Verdict.FAIL
    if counts[Severity.INCONCLUSIVE]:
        return Verdict.INCONCLUSIVE
    if counts[Severity.WARN]:
        return Verdict.WARN
    return Verdict.PASS


def to_grade(findings: Iterable[Finding]) -> str:
    """A: nothing to fix; B: one or two warnings; C: more; F: any failure.

    ``?`` when nothing failed but part of the check could not be done: a grade
    would then claim more than was seen.
    """
    counts = to_counts(findings)
    if counts[Severity.FAIL]:
        return "F"
    if counts[Severity.INCONCLUSIVE]:
        return "?"
    warns = counts[Severity.WARN]
    if warns == 0:
        return "A"
    return "B" if warns <= 2 else "C"


EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


def exit_code(verdicts: Iterable[Verdict]) -> int:
    """CLI status: 1 if anything failed, else 3 if anything was inconclusive, else 0."""
    verdicts = set(verdicts)
    if Verdict.FAIL in verdicts:
        return EXIT_FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return EXIT_INCONCLUSIVE
    return EXIT_OK
