"""The backtest's progress bar: drawn on a terminal, absent from logs and CI output."""

from __future__ import annotations

import io

from orchestration.assets.backtest import _progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_counts_fits_on_a_terminal_and_stays_silent_in_a_log(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with _progress_bar(2) as advance:
        advance("auto_ets", "2016-12-01", 12.0)
        advance("lightgbm", "2016-12-01", 3.0)
    drawn = terminal.getvalue()
    assert "backtest" in drawn and "2/2" in drawn and "lightgbm @ 2016-12-01 3 s" in drawn

    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with _progress_bar(1) as advance:
        advance("auto_ets", "2016-12-01", 1.0)
    assert log.getvalue() == ""
