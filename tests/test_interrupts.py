"""BatchInterrupt: the first Ctrl-C asks for a stop between batches, the second ends the process.

Each case runs in its own Python process, which sends itself SIGINT: the signal handling is the
real one, and a process that dies by it does not take pytest along.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_first_ctrl_c_is_heard_at_the_next_check_only():
    result = _run("""
        import os, signal
        from gbaletter.interrupts import BatchInterrupt
        batches = []
        try:
            with BatchInterrupt(lambda: os.write(1, b"asked\\n")) as interrupt:
                for n in range(5):
                    if n == 2:
                        os.kill(os.getpid(), signal.SIGINT)  # in the middle of batch 2
                    batches.append(n)
                    interrupt.check()
        except KeyboardInterrupt:
            print("stopped after", batches)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # outside: Python's own handler again
            signal.pause()
        except KeyboardInterrupt:
            print("plain KeyboardInterrupt")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["asked", "stopped after [0, 1, 2]", "plain KeyboardInterrupt"]


def test_second_ctrl_c_ends_the_process_without_committing(tmp_path):
    database = tmp_path / "list.db"
    engine = create_engine(f"sqlite:///{database}", poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE saved (batch INTEGER)"))
    result = _run("""
        import os, signal, sqlite3, sys
        from gbaletter.interrupts import BatchInterrupt
        connection = sqlite3.connect(sys.argv[1], isolation_level=None)
        with BatchInterrupt() as interrupt:
            connection.execute("INSERT INTO saved VALUES (1)")  # batch 1, committed
            interrupt.check()
            connection.execute("BEGIN")
            connection.execute("INSERT INTO saved VALUES (2)")  # batch 2, open
            os.kill(os.getpid(), signal.SIGINT)
            assert interrupt.requested
            os.kill(os.getpid(), signal.SIGINT)
            signal.pause()
            connection.execute("COMMIT")
        print("not reached")
    """, str(database))
    assert result.returncode == -signal.SIGINT, result.stderr
    assert result.stdout == ""
    with engine.connect() as connection:
        assert connection.execute(text("SELECT batch FROM saved")).scalars().all() == [1]


def test_outside_the_main_thread_ctrl_c_keeps_its_meaning():
    result = _run("""
        import signal, threading
        from gbaletter.interrupts import BatchInterrupt
        def job():
            with BatchInterrupt() as interrupt:
                interrupt.check()
        thread = threading.Thread(target=job)
        thread.start()
        thread.join()
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True\n"
