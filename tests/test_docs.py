"""The documentation: the site builds with warnings as errors, and every relative link resolves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_docs_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_every_relative_link_of_the_readme_and_docs_resolves() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            path = target.split("#", 1)[0]
            if path and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".html", ".js", ".json", ".txt"}


def test_nothing_in_the_repository_points_outside_it() -> None:
    outside = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or path == Path(__file__):
            continue
        if any(part.startswith(".") or part == "site" for part in parts):
            continue
        if "../shared" in path.read_text(encoding="utf-8", errors="replace"):
            outside.append(str(path.relative_to(ROOT)))
    assert outside == []


def test_the_writing_forms_example_runs_and_books_once() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "first_form.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The script asserts one booking itself; the last line is what was written, after the "yes".
    assert "'guest': 'Ada Lovelace', 'nights': 2" in result.stdout.splitlines()[-1]


def test_the_migration_example_runs_a_seed_style_form_unchanged() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "seed_form.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "[Completed CreateUser: Ada Lovelace <ada@example.com>]" in result.stdout


def test_the_customisation_example_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "customise.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")
