"""Hostile files and inputs: odd headers, NA-like strings, braces, changed labels, huge numbers.

Each test reproduces a red-team finding against a real PostgreSQL and pins the fix.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from config.settings import get_settings
from src.cli import main
from src.data.database import get_engine
from src.data.frames import load_frame
from src.data.ingest import collect
from src.data.source_options import SourceOptions
from src.data.source_registry import get_source_schema
from src.data.tables import DataSource, QuarantinedRow, RawData
from src.exceptions import DataSourceError, SchemaError


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return str(path)


def reasons(engine: Engine, source: str) -> list[str]:
    with engine.connect() as conn:
        stmt = select(QuarantinedRow.reason).where(QuarantinedRow.source == source)
        return sorted(conn.scalars(stmt.order_by(QuarantinedRow.row_key)))


def registered(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.scalar(select(func.count()).where(DataSource.name == name)))


@pytest.mark.parametrize(
    ("header", "positive", "bad_row", "reason"),
    [
        (
            "income,{rate},defaulted",
            "yes",
            "3,x,no",
            "non-numeric value 'x' in numerical column '{rate}'",
        ),
        (
            "income,rate{0},defaulted",
            "yes",
            "3,x,no",
            "non-numeric value 'x' in numerical column 'rate{0}'",
        ),
        (
            "income,rate,defaulted",
            "{yes}",
            "3,0.5,maybe",
            "unknown target value 'maybe' in column 'defaulted' (expected one of ['no', '{yes}'])",
        ),
    ],
)
def test_braces_in_names_and_labels_are_plain_text(
    db_url, tmp_path, header, positive, bad_row, reason
):
    good = [f"{i},0.{i},{positive if i % 3 else 'no'}" for i in range(1, 25)]
    path = write(tmp_path, "braces.csv", "\n".join([header, *good, bad_row]) + "\n")
    summary = collect(options=SourceOptions(source=path, target="defaulted", positive=positive))
    assert (summary.inserted, summary.quarantined) == (24, 1)
    assert reasons(get_engine(), "braces") == [reason]
    assert collect(source=path).already_stored == 25  # the re-run works too


def test_duplicate_csv_header_is_refused_before_registering(db_url, tmp_path):
    path = write(tmp_path, "dups.csv", "income,rate,rate,defaulted\n1,2,3,yes\n2,3,4,no\n")
    with pytest.raises(DataSourceError, match=r"duplicated column names 'rate' \(columns \[2, 3\]"):
        collect(options=SourceOptions(source=path, target="defaulted", positive="yes"))
    assert not registered(get_engine(), "dups")


def test_nul_in_csv_header_is_refused_before_registering(db_url, tmp_path):
    path = write(tmp_path, "nul.csv", "income,ra\x00te,defaulted\n1,2,yes\n2,3,no\n")
    with pytest.raises(DataSourceError, match=r"column 2 of .* NUL character .*'ra<NUL>te'"):
        collect(options=SourceOptions(source=path, target="defaulted", positive="yes"))
    assert not registered(get_engine(), "nul")


NA_CSV = "grade,amount,defaulted\nNone,1,yes\nNA,2,no\nnull,3,no\nN/A,4,yes\n,5,no\nA,,no\n"


def test_na_like_strings_are_values_unless_listed(db_url, tmp_path):
    path = write(tmp_path, "na_like.csv", NA_CSV)
    assert (
        collect(options=SourceOptions(source=path, target="defaulted", positive="yes")).inserted
        == 6
    )
    grades = load_frame(source="na_like").features["grade"].tolist()
    assert grades == ["None", "NA", "null", "N/A", None, "A"]
    assert get_source_schema(source="na_like").nullable == ("grade", "amount")


def test_na_values_option_of_the_cli_is_fixed_at_first_collect(db_url, tmp_path):
    path = write(tmp_path, "listed.csv", NA_CSV)
    args = ["collect", "--source", path, "--target", "defaulted", "--positive", "yes"]
    assert main([*args, "--na-values", "NA, null"]) == 0
    grades = load_frame(source="listed").features["grade"].tolist()
    assert grades == ["None", None, None, "N/A", None, "A"]
    assert main(["collect", "--source", path]) == 0  # the stored tokens are reused
    with pytest.raises(SchemaError, match="na values"):
        collect(options=SourceOptions(source=path, na_values=["None"]))
    with get_engine().connect() as conn:
        assert conn.scalar(select(func.count()).where(RawData.source == "listed")) == 6


def test_changed_labels_are_counted_and_quarantined_not_applied(db_url, tmp_path):
    engine = get_engine()
    lines = [
        "loan_id,grade,defaulted",
        *(f"{i},{'AB'[i % 2]},{'yes' if i % 3 else 'no'}" for i in range(30)),
    ]
    path = write(tmp_path, "relabel.csv", "\n".join(lines) + "\n")
    assert (
        collect(options=SourceOptions(source=path, target="defaulted", positive="yes")).inserted
        == 30
    )
    lines[1], lines[2] = "0,A,yes", "1,B,no"  # loan 0: no -> yes, loan 1: yes -> no
    write(tmp_path, "relabel.csv", "\n".join(lines) + "\n")
    summary = collect(source=path)
    assert (summary.changed_labels, summary.inserted, summary.already_stored) == (2, 0, 30)
    assert reasons(engine, "relabel") == [
        "label changed for stored row key '0' in column 'defaulted': stored 'no', now 'yes' "
        "(stored label kept)",
        "label changed for stored row key '1' in column 'defaulted': stored 'yes', now 'no' "
        "(stored label kept)",
    ]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(RawData.row_key, RawData.label)).all())
    assert (stored["0"], stored["1"]) == ("no", "yes")
    again = collect(source=path)  # still reported, quarantined once
    assert (again.changed_labels, again.quarantined) == (2, 0)
    assert len(reasons(engine, "relabel")) == 2


def test_absurd_magnitudes_are_quarantined_per_column(db_url, tmp_path, monkeypatch):
    rows = [f"{i},{i * 10},{'yes' if i % 3 else 'no'}" for i in range(1, 30)]
    rows += ["30,1e103,no", "31,1.797e308,yes", "32,-2e15,no", "33,5e14,yes"]
    path = write(tmp_path, "huge.csv", "\n".join(["score,amount,defaulted", *rows]) + "\n")
    summary = collect(options=SourceOptions(source=path, target="defaulted", positive="yes"))
    assert (summary.quarantined, summary.out_of_range) == (3, {"amount": 3})
    assert (
        "value -2000000000000000 in numerical column 'amount' exceeds the magnitude bound 1e+15 "
        "(MAX_ABS_NUMERIC_VALUE)"
    ) in reasons(get_engine(), "huge")
    frame = load_frame(source="huge")
    assert frame.features["amount"].abs().max() == 5e14
    monkeypatch.setenv("MAX_ABS_NUMERIC_VALUE", "100")
    get_settings.cache_clear()
    path = write(tmp_path, "small.csv", "\n".join(["score,amount,defaulted", *rows[:29]]) + "\n")
    assert collect(options=SourceOptions(source=path, target="defaulted")).out_of_range == {
        "amount": 19
    }


def test_formatted_numbers_and_unusable_columns_through_collect(db_url, tmp_path, caplog):
    rows = [
        f'REF-{i:06d},2024-01-{1 + i % 28:02d},"{i * 1000 + 234:,}",{5 + i % 7}.5%,'
        f"{'yes' if i % 3 else 'no'}"
        for i in range(250)
    ]
    header = "ref,opened,balance,rate,defaulted"
    path = write(tmp_path, "formatted.csv", "\n".join([header, *rows]) + "\n")
    summary = collect(options=SourceOptions(source=path, target="defaulted", positive="yes"))
    assert (summary.inserted, summary.quarantined) == (250, 0)
    schema = get_source_schema(source="formatted")
    assert (schema.categorical, schema.numerical) == ((), ("balance", "rate"))
    frame = load_frame(source="formatted").features
    assert frame["balance"].tolist()[:2] == [234.0, 1234.0]
    assert frame["rate"].tolist()[:2] == [5.5, 6.5]
    assert "2 column(s) not used as features: 'ref' is identifier-like" in caplog.text
