"""Security properties of the repository itself (no server, no database).

* no secret literals in tracked files: deployment files may only *reference* secrets
  (``${VAR:?...}``), ``.env.example`` ships them empty, and no file holds a private key or
  a well-known token format;
* SQL is built with bound parameters only (ruff's ``S608`` plus the other bandit rules);
* model artifacts are never unpickled (no pickle-family loader anywhere in the code).

Each scanner is also run on a planted sample, so a scanner that silently stopped matching
would fail here instead of passing vacuously.

Covered elsewhere, not repeated: the image runs as a non-root ``USER``
(``tests/compose/test_stack_files.py::test_dockerfile``); compose takes ``PREDICT_API_KEY``
and every other secret from ``.env`` as required ``${VAR:?...}`` values
(``test_secrets_are_required_never_defaulted``, ``test_api_service``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|FERNET|API_KEY|PRIVATE_KEY", re.I)
# Values that are not secrets: empty, a placeholder, a path, or anything the shell/compose
# expands (``${VAR:?...}``, ``$VAR``, ``$(...)``), which only references a secret.
PLACEHOLDERS = {"", "...", "change-me", "***"}


def is_literal_secret(value: str) -> bool:
    token = value.strip().split(maxsplit=1)[0] if value.strip() else ""
    token = token.strip("'\"")
    return not (
        token in PLACEHOLDERS or "$" in token or "`" in token or token.startswith(("/", "<", "*"))
    )


URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@", re.I)
ASSIGNMENT = re.compile(
    r"""^\s*(?:-\s*)?(?:export\s+|ENV\s+|ARG\s+)?["']?([A-Za-z_][A-Za-z0-9_]*)["']?\s*[:=]\s*(.*)$"""
)
KEY_MATERIAL = re.compile(
    r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
    r"|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36}\b|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bsk_live_[A-Za-z0-9]{16,}"
)


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name and (ROOT / name).is_file()]


def is_deployment_file(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return (
        rel in {"Dockerfile", ".env.example", "Makefile", ".dockerignore"}
        or rel.startswith((".devcontainer/", "scripts/", ".ci/", "config/", "airflow/"))
        or (rel.startswith("docker-compose") and rel.endswith((".yml", ".yaml")))
    ) and path.suffix != ".py"


def secret_literals(text: str) -> list[str]:
    """Lines of a deployment file that hold a secret value instead of a reference."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for password in URL_PASSWORD.findall(line):
            if is_literal_secret(password):
                found.append(f"{number}: password in URL: {line.strip()}")
        # Commented-out settings count too: they are one keystroke from being live.
        match = ASSIGNMENT.match(line.strip().lstrip("#").strip())
        name, value = match.groups() if match else ("", "")
        if SECRET_NAME.search(name) and not name.endswith("_FILE") and is_literal_secret(value):
            found.append(f"{number}: {name} has a value: {line.strip()}")
    return found


def test_secret_scanner_catches_planted_secrets() -> None:
    planted = "\n".join(
        [
            "DATABASE_URL=postgresql://app:hunter2@db:5432/x",
            "POSTGRES_PASSWORD=hunter2",
            "      AIRFLOW__API__SECRET_KEY: 'abc123'",
            "ENV ADMIN_API_KEY=abc123",
            "# PREDICT_API_KEY=abc123",
        ]
    )
    assert len(secret_literals(planted)) == 5
    harmless = "\n".join(
        [
            'x: "postgresql://u:${POSTGRES_PASSWORD:?set it}@postgres:5432/x"',
            "POSTGRES_PASSWORD=",
            "ADMIN_API_KEY: ${ADMIN_API_KEY:?set ADMIN_API_KEY in .env}",
            "# DATABASE_URL=postgresql://mlops_user:change-me@localhost:5432/loan_default",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: /opt/airflow/auth/passwords.json",
        ]
    )
    assert secret_literals(harmless) == []
    # Split literals: this file is tracked too and must not trip its own scan.
    assert KEY_MATERIAL.search("-----BEGIN " + "OPENSSH PRIVATE KEY-----")
    assert KEY_MATERIAL.search("AKIA" + "ABCDEFGHIJKLMNOP")


def test_no_secret_literals_in_tracked_files() -> None:
    files = tracked_files()
    assert ROOT / "docker-compose.yml" in files and ROOT / ".env.example" in files
    assert not [f for f in files if f.name == ".env"], ".env must never be committed"
    problems = []
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary files
        rel = path.relative_to(ROOT).as_posix()
        if KEY_MATERIAL.search(text):
            problems.append(f"{rel}: key material or a live token")
        if is_deployment_file(path):
            problems += [f"{rel}:{finding}" for finding in secret_literals(text)]
    assert problems == []


def test_env_example_leaves_every_secret_empty() -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match and SECRET_NAME.search(match.group(1)):
            assert match.group(2).strip() == "", line


def test_sql_is_built_with_bound_parameters_only() -> None:
    """Bandit rules through ruff: S608 (SQL built from strings) and friends, all clean.

    S101 (``assert``) is excluded because pyproject ignores it for the whole project; it is
    not an injection risk.
    """
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--select",
            "S",
            "--ignore",
            "S101",
            "--output-format",
            "concise",
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    planted = "from sqlalchemy import text\ndef q(conn, name):\n"
    planted += "    return conn.execute(text(f\"SELECT * FROM t WHERE name = '{name}'\"))\n"
    caught = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--isolated",
            "--select",
            "S608",
            "--stdin-filename",
            "planted.py",
            "-",
        ],
        input=planted,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert caught.returncode == 1 and "S608" in caught.stdout


PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}


def unpickling_calls(source: str) -> list[str]:
    """Imports of pickle-family modules and calls that unpickle, found in the syntax tree."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            found += [f"import {n}" for n in names if n.split(".")[0] in PICKLE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
        if name.endswith(("torch.load", "jit.load")) and keywords.get("weights_only") != "True":
            found.append(f"{name}(...) without weights_only=True")
        if name.endswith(("read_pickle", "pickle.load", "pickle.loads", "joblib.load")):
            found.append(f"{name}(...)")
        if keywords.get("allow_pickle") == "True":
            found.append(f"{name}(..., allow_pickle=True)")
    return found


def test_unpickling_scanner_catches_planted_loaders() -> None:
    planted = (
        "import pickle\nfrom joblib import load\nimport torch, numpy as np, pandas as pd\n"
        "torch.load(f)\ntorch.load(f, weights_only=False)\nnp.load(f, allow_pickle=True)\n"
        "pd.read_pickle(f)\n"
    )
    assert len(unpickling_calls(planted)) == 6
    assert unpickling_calls("import torch\ntorch.load(f, weights_only=True)\n") == []


@pytest.mark.parametrize("folder", ["src", "config", "airflow", "scripts", "bench"])
def test_artifacts_are_never_unpickled(folder: str) -> None:
    """Every Python file on disk (tracked or not: untracked code runs too)."""
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files
    findings = {p.relative_to(ROOT).as_posix(): unpickling_calls(p.read_text()) for p in files}
    assert {path: found for path, found in findings.items() if found} == {}
