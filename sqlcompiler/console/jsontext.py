"""Results as JSON text, the same way for every command's --format json."""

from __future__ import annotations

import dataclasses
import json


def to_json(obj: object) -> str:
    """Any result as JSON text: dataclasses as objects, dates and decimals as strings."""

    def plain(o: object) -> object:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, list | tuple):
            return [plain(x) for x in o]
        return o

    return json.dumps(plain(obj), default=str, indent=2, ensure_ascii=False)
