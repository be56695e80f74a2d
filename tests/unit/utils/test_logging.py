import logging

from src.utils.logging import configure_logging, redact


def test_redact_masks_password_in_urls():
    text = "connecting to postgresql://mlops_user:s3cr3t-P@ss@db:5432/loan_default now"
    assert redact(text) == "connecting to postgresql://mlops_user:***@db:5432/loan_default now"


def test_redact_leaves_urls_without_password():
    text = "postgresql://postgres@127.0.0.1:5432/db and sqlite:///./data/x.db"
    assert redact(text) == text


def test_configured_handlers_never_emit_the_password(capfd, monkeypatch):
    # A handler made by an earlier test writes to the stderr of its time, not to capfd's.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    configure_logging("INFO")
    logging.getLogger("probe").info("url=%s", "postgresql://u:hunter2@h/db")
    captured = capfd.readouterr()
    assert "hunter2" not in captured.err + captured.out
    assert "postgresql://u:***@h/db" in captured.err


def test_redact_masks_a_password_holding_an_unencoded_at_sign_whole():
    text = "postgresql://u:p@ss@w0rd@db.internal:5432/loans failed"
    assert redact(text) == "postgresql://u:***@db.internal:5432/loans failed"


def test_redact_masks_password_in_the_query_string():
    text = "postgresql://postgres@127.0.0.1:5432/db?sslmode=require&password=hunter2&x=1"
    assert (
        redact(text) == "postgresql://postgres@127.0.0.1:5432/db?sslmode=require&password=***&x=1"
    )
    assert "hunter2" not in redact("postgresql://h/db?PASSWORD=hunter2")


def test_redact_masks_libpq_keyword_dsns_quoted_or_not():
    assert redact("host=db user=u password=hunter2 dbname=x") == (
        "host=db user=u password=*** dbname=x"
    )
    masked = redact("host=db password='hun ter\\'2' sslpassword=k3y port=5432")
    assert "hun" not in masked and "k3y" not in masked and "port=5432" in masked


def test_redact_leaves_words_that_merely_contain_password_alone():
    text = "column password_hint=yes and mypassword=visible stay"
    assert redact(text) == text
