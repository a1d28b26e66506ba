"""StopRequest: the first Ctrl-C or SIGTERM asks for a stop between batches, the second ends the process.

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


def _default_stop_signals() -> None:
    """In the child, before Python starts: the stop signals at their default, as in a terminal.
    A test run started in the background (`pytest &`) has SIGINT ignored, which a child inherits,
    and Python then leaves Ctrl-C ignored instead of raising KeyboardInterrupt."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=60, preexec_fn=_default_stop_signals,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_first_ctrl_c_is_heard_at_the_next_check_only():
    result = _run("""
        import os, signal
        from gbaletter.interrupts import StopRequest
        batches = []
        try:
            with StopRequest(lambda: os.write(1, b"asked\\n")) as interrupt:
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
        from gbaletter.interrupts import StopRequest
        connection = sqlite3.connect(sys.argv[1], isolation_level=None)
        with StopRequest() as interrupt:
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
        from gbaletter.interrupts import StopRequest
        def job():
            with StopRequest() as interrupt:
                interrupt.check()
        thread = threading.Thread(target=job)
        thread.start()
        thread.join()
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True\n"


def test_sigterm_too_and_the_second_one_ends_the_process_by_it():
    result = _run("""
        import os, signal
        from gbaletter.interrupts import StopRequest
        with StopRequest(lambda: os.write(1, b"asked\\n")) as stopping:
            os.kill(os.getpid(), signal.SIGTERM)
            print("still running:", stopping.requested, flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()
        print("not reached")
    """)
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert result.stdout == "asked\nstill running: True\n"


def test_a_wait_is_cut_short_and_an_inner_job_stops_the_outer_one():
    """`waiting()`: the request raises at once; a StopRequest entered inside another (a send in the
    scheduler) passes its request out, and leaving it puts the outer one's handlers back."""
    result = _run("""
        import os, signal, time
        from gbaletter.interrupts import StopRequest, StopRequested
        with StopRequest() as outer:
            with StopRequest() as inner:
                os.kill(os.getpid(), signal.SIGINT)
                print("inner", inner.requested, "outer", outer.requested)
            print(signal.getsignal(signal.SIGTERM) == outer._handle)
        with StopRequest() as stopping:
            started = time.monotonic()
            try:
                with stopping.waiting():
                    signal.setitimer(signal.ITIMER_REAL, 0.2)
                    signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
                    time.sleep(30)
            except StopRequested:
                print("woken", time.monotonic() - started < 10)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["inner True outer True", "True", "woken True"]
