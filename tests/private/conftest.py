"""Shared by the private tests: a CLI call that must fail with one line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lowdim.cli import main


@pytest.fixture
def cli_error(capsys) -> Callable[[list[str]], str]:
    """``cli_error(argv)``: run ``lowdim argv``, check it exits 2 with one ``error:`` line (no traceback), return it."""

    def run(argv: list[str]) -> str:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "Traceback" not in err and "\n" not in err
        return " ".join(err.split())

    return run
