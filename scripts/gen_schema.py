"""Writes schema/report.schema.json from the model (run after changing model.py)."""

import json
from pathlib import Path

from bannercheck.schema import to_report_schema

OUT = Path(__file__).resolve().parent.parent / "schema" / "report.schema.json"

if __name__ == "__main__":
    OUT.write_text(json.dumps(to_report_schema(), indent=2) + "\n")
    print(f"wrote {OUT}")
