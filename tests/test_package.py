import subprocess
import sys

import converso


def test_package_has_a_version() -> None:
    assert converso.__version__


def test_cli_entry_point_shows_help() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from converso.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "demo" in result.stdout
