"""The terminal reporter: log records go above the bar, through its console, not onto the bar's line."""

from __future__ import annotations

import io
import logging
import sys

from pythonnest.sync.terminal import TerminalReporter


def test_log_records_go_through_the_bars_console_while_it_is_drawn(capsys):
    logger = logging.getLogger("pythonnest")
    saved = logger.handlers[:]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    try:
        screen = io.StringIO()
        reporter = TerminalReporter(screen)
        logging.getLogger("pythonnest.sync.lock").warning("could not renew the update lock: busy")
        reporter.close()
        assert "WARNING pythonnest.sync.lock: could not renew the update lock: busy" in screen.getvalue()
        assert "could not renew" not in capsys.readouterr().err
        # Once the bar is gone, records go where they went before.
        assert logger.handlers == [handler]
        logging.getLogger("pythonnest.sync.lock").warning("after the run")
        assert "after the run" in capsys.readouterr().err
    finally:
        logger.handlers[:] = saved
