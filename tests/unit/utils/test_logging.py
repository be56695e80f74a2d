import logging

from src.utils.logging import configure_logging, redact


def test_redact_masks_password_in_urls():
    text = "connecting to postgresql://mlops_user:s3cr3t-P@ss@db:5432/loan_default now"
    assert redact(text) == "connecting to postgresql://mlops_user:***@db:5432/loan_default now"


def test_redact_leaves_urls_without_password():
    text = "postgresql://postgres@127.0.0.1:5432/db and sqlite:///./data/x.db"
    assert redact(text) == text


def test_configured_handlers_never_emit_the_password(capfd):
    configure_logging("INFO")
    logging.getLogger("probe").info("url=%s", "postgresql://u:hunter2@h/db")
    captured = capfd.readouterr()
    assert "hunter2" not in captured.err + captured.out
    assert "postgresql://u:***@h/db" in captured.err
