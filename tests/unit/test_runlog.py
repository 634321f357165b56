"""Rule logs (qipstudy.runlog): a clear error is one line on stderr, its traceback stays in the log."""
from __future__ import annotations

import pytest

from qipstudy.retrieve.http import RetrieveError
from qipstudy.runlog import log_to


def test_a_clear_error_is_one_line_and_exit_status_1(tmp_path, capsys):
    log = tmp_path / "rule.log"
    with pytest.raises(SystemExit) as stop:
        with log_to(log):
            raise RetrieveError("acled: no network (DNS lookup of acleddata.com failed);\nuse mode: user")
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert "ERROR: acled: no network (DNS lookup of acleddata.com failed); use mode: user" in err
    assert "Traceback" not in err
    assert "Traceback" in log.read_text(encoding="utf-8")


def test_a_bug_keeps_its_traceback(tmp_path):
    with pytest.raises(KeyError):
        with log_to(tmp_path / "rule.log"):
            raise KeyError("unexpected")
