"""Reading CSV files without pandas' silent guesses: header names checked, NA tokens explicit.

pandas renames a repeated header (``rate``, ``rate.1``) and turns the strings
``None``, ``NA``, ``null``, ``N/A`` ... into missing values.  Both change what a
user's file says without a word, so here only empty cells are missing unless the
user lists more tokens, and a header that cannot be stored faithfully is refused
before the source is registered (a registered source with a broken schema would
fail the same way on every re-run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from src.exceptions import DataSourceError


def check_column_names(columns: Sequence[object], where: str) -> None:
    """Refuse column names that cannot be stored as they are (NUL) or are repeated.

    PostgreSQL's jsonb cannot hold a NUL character, so such a name would fail the
    insert with a message naming no column; the position (1-based) says which one.
    """
    names = [str(c) for c in columns]
    for position, name in enumerate(names, start=1):
        if "\x00" in name:
            raise DataSourceError(
                f"column {position} of {where} has a NUL character in its name "
                f"({name.replace(chr(0), '<NUL>')!r}); remove it from the header"
            )
    repeated = sorted(n for n, count in Counter(names).items() if count > 1)
    if repeated:
        positions = {n: [i for i, m in enumerate(names, start=1) if m == n] for n in repeated}
        raise DataSourceError(
            f"{where} has duplicated column names "
            + ", ".join(f"{n!r} (columns {positions[n]})" for n in repeated)
            + "; rename them so each column has its own name"
        )


def read_csv(
    path: Path, *, na_values: Sequence[str] | None, text_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """A CSV file's rows; only empty cells and ``na_values`` count as missing.

    ``na_values`` None keeps pandas' default NA strings: sources registered before
    the option existed were read that way, and their id-less row keys hash those values.
    ``text_columns`` are kept as written (no number guessing): an id ``007`` stays ``007``.
    """
    try:
        header = pd.read_csv(
            path, header=None, nrows=1, dtype=str, keep_default_na=False, na_filter=False
        )
    except pd.errors.EmptyDataError as exc:
        raise DataSourceError(f"cannot read {path}: the file is empty") from exc
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise DataSourceError(f"cannot read the header of {path}: {exc}") from exc
    check_column_names(list(header.iloc[0]) if len(header) else [], f"the header of {path}")
    dtype = dict.fromkeys(text_columns, str) or None
    if na_values is None:
        return pd.read_csv(path, low_memory=False, dtype=dtype)
    return pd.read_csv(
        path, low_memory=False, dtype=dtype, keep_default_na=False, na_values=["", *na_values]
    )
