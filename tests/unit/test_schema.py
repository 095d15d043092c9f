import json

from bannercheck.schema import to_report_schema

from tests.reportcheck import SCHEMA_PATH


def test_published_schema_matches_the_model() -> None:
    # Regenerate with: .venv/bin/python scripts/gen_schema.py
    assert json.loads(SCHEMA_PATH.read_text()) == to_report_schema()
