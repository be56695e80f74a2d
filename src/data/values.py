"""Plain values: how a source column's cells become the JSON-able values we store.

``received_values`` turns a source column into plain Python values (the form
``raw_data.record`` keeps them in), so every source kind is stored the same way
whatever dtype pandas happened to infer.  Validation, row keys, the feature
frame and the COPY path all build on these helpers, so they agree on every value.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

# Floats beyond this cannot be told apart from their neighbours, so they stay floats.
_EXACT_INT_LIMIT = 2**53
_STRING_KINDS = ("string", "empty")

# Compact JSON text of a value; raises on NaN/inf, which JSON cannot hold.
dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


# Numbers as spreadsheets export them: thousands separators and/or a trailing percent sign.
# Strict on purpose: "1,5" (a decimal comma) or "1,23" stay text rather than guessed.
_FORMATTED_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?%?")


# pandas' default NA strings.  CSV cells holding them are text unless listed in --na-values;
# knowing them lets inference keep a numeric column numeric and quarantine reasons give a hint.
NA_LIKE = frozenset(
    [
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)


def to_numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    """Values as float64 (NaN = missing or not a number), accepting "1,234" and "12.5%".

    "12.5%" reads 12.5 (the number written, as interest-rate columns mean it).  Ingest
    validation, schema inference, the feature frame and serving all parse with this one
    function, so a value accepted at ingest is read the same way everywhere after.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    numbers = np.array(pd.to_numeric(series, errors="coerce"), dtype="float64")  # a copy
    retry = np.isnan(numbers) & series.notna().to_numpy()
    for i in np.flatnonzero(retry):
        value = series.iloc[i]
        text = value.strip() if isinstance(value, str) else ""
        if any(c.isdigit() for c in text) and _FORMATTED_NUMBER.fullmatch(text):
            numbers[i] = float(text.replace(",", "").rstrip("%"))
    return numbers


def load_json_texts(texts: Iterable[str]) -> list[Any]:
    """Parse many JSON texts at once: one ``json.loads`` beats one call per row."""
    return json.loads("[" + ",".join(texts) + "]")


def is_number_dtype(dtype: Any) -> bool:
    """Whether a column's dtype holds numbers; bools count as numbers for pandas, not for us."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def missing_as_none(series: pd.Series) -> np.ndarray:
    """A column as an object array with every missing value (NaN, NA, NaT) as None."""
    values = series.to_numpy(dtype=object)
    out = values.copy()  # a copy: pandas may hand out its own (even read-only) buffer
    out[pd.isna(values)] = None
    return out


def all_strings(values: np.ndarray) -> bool:
    """Whether every non-missing value is a str (true when there are none)."""
    return pd.api.types.infer_dtype(values, skipna=True) in _STRING_KINDS


def received_values(series: pd.Series) -> np.ndarray:
    """Column values as plain JSON-able Python objects: None, str, int, float or bool.

    NaN/NA become None and integral floats become ints, so a column that pandas
    reads as float in one file version (because of a gap) and int in the next
    still yields the same stored values and the same content hashes.
    """
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) and not series.hasnans:
        return series.to_numpy(dtype=bool).astype(object)
    if is_number_dtype(dtype):
        if dtype.kind in "iu" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
            return series.to_numpy().astype(object)
        return _float_values(series.astype("float64").to_numpy())
    out = missing_as_none(series)
    if all_strings(out):
        return out
    return np.array([plain_value(v) for v in out], dtype=object)


def _float_values(arr: np.ndarray) -> np.ndarray:
    out = arr.astype(object)
    with np.errstate(invalid="ignore"):
        integral = np.isfinite(arr) & (arr == np.trunc(arr)) & (np.abs(arr) < _EXACT_INT_LIMIT)
    out[integral] = arr[integral].astype(np.int64).astype(object)
    out[np.isnan(arr)] = None
    return out


def plain_value(value: Any) -> Any:
    """One value as a plain Python object (see ``received_values``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | decimal.Decimal):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isfinite(number) and number.is_integer() and abs(number) < _EXACT_INT_LIMIT:
            return int(number)
        return number
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def json_safe(value: Any) -> Any:
    """A value that JSON (and PostgreSQL's jsonb) accepts: inf as text, NUL replaced.

    For quarantined rows, which are kept because they hold such values.
    """
    value = plain_value(value)
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


def label_texts(series: pd.Series) -> list[str | None]:
    """Target values as stripped strings (None = missing); 1, 1.0 and "1" all read "1"."""
    values = received_values(series)
    if pd.api.types.infer_dtype(values, skipna=True) in {"string", "integer", "empty"}:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = [str(u).strip() or None for u in uniques] + [None]
        return [texts[c] for c in codes]
    return [None if v is None else (str(v).strip() or None) for v in values]
