"""Names other code imports from ingest/processing/sources still resolve after the split."""

from __future__ import annotations

import importlib

import pytest

from src.data import frames, source_registry, validation, values

MOVED = {
    "src.data.processing": {
        "LabelledFrame": frames,
        "is_test_row": frames,
        "records_to_frame": frames,
        "coerce_features": frames,
        "feature_dicts": frames,
        "load_frame": frames,
        "get_source_schema": source_registry,
        "list_sources": source_registry,
        "CheckedRows": validation,
        "check_rows": validation,
    },
    "src.data.sources": {
        "row_keys": validation,
        "MAX_KEY_LENGTH": validation,
        "received_values": values,
        "plain_value": values,
        "label_texts": values,
    },
    "src.data.ingest": {"POSITIVE_GUESSES": source_registry},
}
KEPT = {
    "src.data.ingest": ["collect", "IngestSummary", "CHUNK_ROWS"],
    "src.data.processing": ["build_processed", "insert_ignore", "PROCESS_CHUNK_ROWS"],
    "src.data.sources": ["SourceSpec", "resolve_source", "read_source", "BUNDLED"],
}


@pytest.mark.parametrize(
    ("module", "name", "home"),
    [(m, n, h) for m, names in MOVED.items() for n, h in names.items()],
)
def test_moved_names_are_the_same_objects(module, name, home):
    assert getattr(importlib.import_module(module), name) is getattr(home, name)


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, names in KEPT.items() for n in names])
def test_kept_names_are_exported(module, name):
    mod = importlib.import_module(module)
    assert hasattr(mod, name) and name in mod.__all__
