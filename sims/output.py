"""How a sims command prints its result: one JSON line, or one "key: value" line per entry."""
from __future__ import annotations

import json


def emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
