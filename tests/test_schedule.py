"""Scheduled sends: the policy table, the editor's commands, and real schedulers sending once.

The scheduler tests run the real `gbaletter scheduler` in subprocesses against the suite's
database (the two-schedulers test on SQLite and on PostgreSQL both) and the test SMTP server. A
schedule that is already due is made through the service with a `now` in the past (the command
line, rightly, refuses a time in the past).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from gbaletter.config import load_workspace
from gbaletter.db import open_database
from gbaletter.errors import GbaletterError
from gbaletter.delivery import journal, leases
from gbaletter.delivery.models import SendWorker
from gbaletter.delivery.sender import UNCERTAIN_STATES
from gbaletter.schedule.models import Schedule, ScheduleState
from gbaletter.delivery.sender import SendSummary
from gbaletter.schedule.runner import describe_send
from gbaletter.schedule.policy import TIME_FORMAT, Action, due_action, parse_send_time
from gbaletter.schedule.service import add_schedule, list_schedules
from gbaletter.subscribers.service import add_subscriber
from support.databases import suite_url

ISSUE = "2019-W26"
SEGMENT = "tag:technology"
READERS = [f"reader{n}@example.org" for n in range(12)]
AT = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize("now, action", [
    (AT - timedelta(seconds=1), Action.WAIT),
    (AT, Action.SEND),
    (AT + 2 * HOUR, Action.SEND),                         # the last moment of the window
    (AT + 2 * HOUR + timedelta(seconds=1), Action.MISS),
    (AT + 72 * HOUR, Action.MISS),                        # the scheduler was down all weekend
])
def test_what_a_scheduler_does_with_a_pending_schedule(now, action):
    assert due_action(AT, now, 2 * HOUR) is action


@pytest.mark.parametrize("changes, state, words", [
    ({}, ScheduleState.SENT, "sent: 12 sent (12 messages in 1.0 s)"),
    ({"interrupted": True}, ScheduleState.INCOMPLETE, "stopped by a signal"),
    ({"totals": {"sent": 10, "deferred": 2}}, ScheduleState.INCOMPLETE, "2 messages still to go"),
    ({"uncertain": ["a@example.org"]}, ScheduleState.INCOMPLETE, "1 message may or may not"),
])
def test_a_send_summary_becomes_a_state_and_a_line(changes, state, words):
    summary = SendSummary(ISSUE, SEGMENT, attempted=12, outcome={"sent": 12}, totals={"sent": 12}, elapsed=1.0)
    for key, value in changes.items():
        setattr(summary, key, value)
    got_state, line = describe_send(summary)
    assert got_state is state and words in line
    if state is ScheduleState.INCOMPLETE:
        assert line.endswith(f"resume with: gbaletter issue send {ISSUE} --segment {SEGMENT}")


HONG_KONG = ZoneInfo("Asia/Hong_Kong")
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 in Hong Kong


def test_send_times_are_read_in_the_workspace_timezone():
    assert parse_send_time("2026-12-04 08:00", HONG_KONG, NOW) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, tz, message", [
    ("2026-12-04", HONG_KONG, "--at '2026-12-04': not a time like 2026-12-04 08:00 (YYYY-MM-DD HH:MM, "
                              "in Asia/Hong_Kong)"),
    ("4/12/2026 8am", HONG_KONG, "--at '4/12/2026 8am': not a time like"),
    ("2026-12-01 07:59", HONG_KONG, "--at '2026-12-01 07:59': that is in the past (it is now "
                                    "2026-12-01 08:00 HKT); a schedule must be in the future"),
    ("2027-03-28 01:30", ZoneInfo("Europe/London"), "--at '2027-03-28 01:30': that time does not exist "
                                                    "in Europe/London (the clocks skip it)"),
])
def test_a_bad_or_past_time_is_one_line(text, tz, message):
    with pytest.raises(GbaletterError) as caught:
        parse_send_time(text, tz, NOW)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_bad_late_window_names_its_setting(workspace_dir, run_cli):
    config = workspace_dir / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[schedule]\nlate_window = "two hours"\n',
                      encoding="utf-8")
    result = run_cli(workspace_dir, "issue", "schedules")
    assert result.exit_code == 1
    assert result.error_lines == ["error: gbaletter.toml [schedule]: 'late_window' is not a duration like "
                                  "90s, 15m, 2h or 1h30m: 'two hours'"]


@pytest.fixture
def backend(request, monkeypatch, tmp_path) -> str:
    """The suite's database (tests/support/databases.py), unless a test asks for one: a SQLite
    file, or a fresh database on a real PostgreSQL."""
    name = getattr(request, "param", None)
    if name == "postgresql":
        monkeypatch.setenv("GBALETTER_DATABASE_URL", request.getfixturevalue("postgres_database"))
    elif name == "sqlite":
        monkeypatch.setenv("GBALETTER_DATABASE_URL", f"sqlite:///{tmp_path / 'schedule.db'}")
    return name or ("postgresql" if suite_url() else "sqlite")


@pytest.fixture
def letter(backend, sample_workspace, run_cli, mail_env):
    """The sample workspace with its issue built, readers on the list, the SMTP server in the env."""
    assert run_cli(sample_workspace, "issue", "build", ISSUE).exit_code == 0
    db = open_database(load_workspace(sample_workspace))
    assert db.engine.dialect.name == backend
    with db.session() as session:
        for address in READERS:
            add_subscriber(session, address, tags=["technology"])
        add_subscriber(session, "finance.only@example.org", tags=["finance"])
    return sample_workspace, db, mail_env


def schedule_due(root, db, ago: timedelta = timedelta(minutes=1)) -> int:
    """A pending schedule whose time was `ago` (to the minute) before now."""
    ws = load_workspace(root)
    at = datetime.now(UTC) - ago
    made = add_schedule(ws, db, ISSUE, SEGMENT, at.astimezone(ws.tz).strftime(TIME_FORMAT),
                        now=at - timedelta(minutes=1))
    return made.id


def scheduler(root, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gbaletter", "--root", str(root), "scheduler", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _signal_once(process: subprocess.Popen, condition, signum: int) -> tuple[str, str]:
    """Send `signum` to the running scheduler once `condition()` holds; what it printed."""
    try:
        deadline = time.monotonic() + 120
        while not condition():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
    finally:
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    return out, err


def error_line_of_once(root) -> str:
    """`gbaletter scheduler --once` reporting a problem: exit 1 and one line on stderr."""
    process = scheduler(root, "--once")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    [line] = err.splitlines()
    return line


def state_of(db, schedule_id: int):
    [row] = [s for s in list_schedules(db) if s.id == schedule_id]
    return row


def _claimed(db, schedule_id: int, by: str, at: datetime) -> None:
    """The schedule as a scheduler leaves it when it dies mid-send: `sending`, claimed by `by`."""
    with db.session() as session:
        session.execute(update(Schedule).where(Schedule.id == schedule_id)
                        .values(state=ScheduleState.SENDING.value, claimed_by=by, claimed_at=at))


def _gone_line(schedule_id: int, claimed_by: str) -> str:
    return (f"schedule {schedule_id} (issue {ISSUE} to {SEGMENT}): resumed: the scheduler {claimed_by} "
            "that was sending it stopped (killed or crashed); ")


def test_schedule_list_and_cancel_from_the_command_line(letter, run_cli):
    root, _, _ = letter
    made = run_cli(root, "issue", "schedule", ISSUE, "--segment", SEGMENT, "--at", "2099-12-04 08:00")
    assert made.exit_code == 0, made.stderr
    assert made.output.startswith(f"schedule 1: issue {ISSUE} to {SEGMENT} at 2099-12-04 08:00 HKT")
    again = run_cli(root, "issue", "schedule", ISSUE, "--segment", SEGMENT, "--at", "2099-12-05 08:00")
    assert again.error_lines == [f"error: issue {ISSUE} to {SEGMENT} is already scheduled for 2099-12-04 "
                                 "08:00 HKT (schedule 1); cancel it first: gbaletter issue schedule --cancel 1"]
    listed = run_cli(root, "issue", "schedules")
    assert listed.output.splitlines()[1].split() == ["1", ISSUE, SEGMENT, "2099-12-04", "08:00", "HKT",
                                                     "pending"]
    assert run_cli(root, "issue", "schedule", "--cancel", "1").output == (
        f"cancelled schedule 1 (issue {ISSUE} to {SEGMENT})\n")
    assert "cancelled" in run_cli(root, "issue", "schedule", "--list").output
    twice = run_cli(root, "issue", "schedule", "--cancel", "1")
    assert twice.exit_code == 1
    assert twice.error_lines == ["error: schedule 1 is cancelled; only a pending schedule can be cancelled"]


@pytest.mark.parametrize("args, message", [
    (("--segment", SEGMENT, "--at", "2099-12-04"), "error: --at '2099-12-04': not a time like"),
    (("--segment", SEGMENT, "--at", "2020-01-01 08:00"), "error: --at '2020-01-01 08:00': that is in the past"),
    (("--segment", "no-such-segment", "--at", "2099-12-04 08:00"), "error: no segment named 'no-such-segment'"),
    (("--segment", SEGMENT), 'error: give ISSUE_ID, --segment and --at "YYYY-MM-DD HH:MM"'),
])
def test_a_bad_schedule_is_one_line_and_stores_nothing(letter, run_cli, args, message):
    root, db, _ = letter
    result = run_cli(root, "issue", "schedule", ISSUE, *args)
    assert result.exit_code == 1
    [line] = result.error_lines
    assert line.startswith(message)
    assert list_schedules(db) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_two_schedulers_at_once_send_exactly_once(letter):
    root, db, handler = letter
    schedule_id = schedule_due(root, db)
    first, second = scheduler(root, "--once"), scheduler(root, "--once")
    results = [process.communicate(timeout=120) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert sorted(handler.counts().items()) == sorted((address, 1) for address in READERS)
    outputs = [out for out, _ in results]
    assert sum(f"schedule {schedule_id} (issue {ISSUE} to {SEGMENT}): sent: " in out for out in outputs) == 1
    row = state_of(db, schedule_id)
    assert row.state == ScheduleState.SENT and row.claimed_by and row.outcome.startswith("sent: 12 sent")
    rerun = scheduler(root, "--once")
    assert rerun.communicate(timeout=60) == ("", "") and rerun.returncode == 0
    assert len(handler.received) == len(READERS)


@pytest.mark.parametrize("abandoned", [False, True], ids=["pending", "abandoned-mid-send"])
def test_a_schedule_found_past_its_window_is_reported_not_sent(letter, abandoned):
    root, db, handler = letter
    schedule_id = schedule_due(root, db, ago=3 * HOUR)  # the default late_window is 2h
    if abandoned:
        ended = subprocess.Popen(["true"])  # a process number that no longer runs
        ended.wait()
        dead = f"{socket.gethostname()}:{ended.pid}"
        _claimed(db, schedule_id, dead, datetime.now(UTC) - 3 * HOUR)
        said = f"incomplete: the scheduler {dead} that was sending it stopped (killed or crashed); found "
        then = (f"not resumed (see what went out: gbaletter issue status {ISSUE}; resume it by hand: "
                f"gbaletter issue send {ISSUE} --segment {SEGMENT})")
        state = ScheduleState.INCOMPLETE
    else:
        said = "missed: due "
        then = f"not sent (send it by hand: gbaletter issue send {ISSUE} --segment {SEGMENT})"
        state = ScheduleState.MISSED
    line = error_line_of_once(root)
    assert line.startswith(f"error: schedule {schedule_id} (issue {ISSUE} to {SEGMENT}): {said}")
    assert line.endswith(f"later than late_window 2h; {then}")
    assert handler.received == []
    assert state_of(db, schedule_id).state == state


def test_a_stale_build_stops_the_send_with_a_line_on_the_row(letter):
    root, db, handler = letter
    schedule_id = schedule_due(root, db)
    manifest = root / "issues" / ISSUE / "issue.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("subject: ", "subject: New "),
                        encoding="utf-8")
    message = (f"not sent: the build of issue {ISSUE} is older than its manifest, posts or templates; "
               f"run: gbaletter issue build {ISSUE}")
    assert error_line_of_once(root) == f"error: schedule {schedule_id} (issue {ISSUE} to {SEGMENT}): {message}"
    assert handler.received == []
    row = state_of(db, schedule_id)
    assert (row.state, row.outcome) == (ScheduleState.FAILED, message)


def test_a_cancelled_schedule_is_not_sent(letter, run_cli):
    root, db, handler = letter
    schedule_id = schedule_due(root, db)
    assert run_cli(root, "issue", "schedule", "--cancel", str(schedule_id)).exit_code == 0
    process = scheduler(root, "--once")
    assert process.communicate(timeout=120) == ("", "") and process.returncode == 0
    assert handler.received == []


def test_the_long_running_scheduler_sends_when_due_and_stops_on_sigterm(letter):
    root, db, handler = letter
    config = root / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[schedule]\npoll_interval = "1s"\n',
                      encoding="utf-8")
    process = scheduler(root)
    schedule_id = schedule_due(root, db)
    out, err = _signal_once(process, lambda: state_of(db, schedule_id).state not in (
        ScheduleState.PENDING, ScheduleState.SENDING), signal.SIGTERM)
    assert process.returncode == 0, err
    assert f"schedule {schedule_id} (issue {ISSUE} to {SEGMENT}): sent: 12 sent" in out, err
    assert err.splitlines()[-1] == "scheduler: stopped" and "Traceback" not in err
    assert sorted(handler.counts().values()) == [1] * len(READERS)


def test_a_stop_signal_during_a_send_finishes_it_cleanly_and_claims_nothing_more(letter):
    """SIGINT while the scheduler sends (one mechanism, interrupts.StopRequest): the messages in
    flight finish, the schedule is recorded incomplete with how to resume, the next due schedule
    stays pending for the next scheduler, and the scheduler ends as it does on SIGTERM."""
    root, db, handler = letter
    config = root / "gbaletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("\nrate = 0\n", "\nrate = 4\n")
                      + '\n[schedule]\npoll_interval = "1s"\n', encoding="utf-8")
    first = schedule_due(root, db, ago=timedelta(minutes=2))
    ws = load_workspace(root)
    at = datetime.now(UTC) - timedelta(minutes=1)
    second = add_schedule(ws, db, ISSUE, "tag:finance", at.astimezone(ws.tz).strftime(TIME_FORMAT),
                          now=at - timedelta(minutes=1)).id
    process = scheduler(root)
    out, err = _signal_once(process, lambda: len(handler.received) >= 2, signal.SIGINT)
    assert process.returncode == 0, err
    assert err.splitlines()[-1] == "scheduler: stopped" and "Traceback" not in err
    stopped = state_of(db, first)
    assert stopped.state == ScheduleState.INCOMPLETE and "stopped by a signal" in stopped.outcome, out
    assert state_of(db, second).state == ScheduleState.PENDING
    with db.reader() as session:
        counts = journal.counts(session, ISSUE)
    assert counts["sending"] == 0 and counts["sent"] == len(handler.received) < len(READERS)
    assert counts["queued"] == len(READERS) - counts["sent"]


def test_check_errors_at_send_time_stop_the_send(letter, run_cli):
    root, db, handler = letter
    post = root / "posts" / "2019-06-30-specialist-towns-credit.md"
    post.write_text(post.read_text(encoding="utf-8").replace("url: https://gba.example.org/",
                                                             "url: http://localhost:8000/"), encoding="utf-8")
    assert run_cli(root, "issue", "build", ISSUE).exit_code == 0  # fresh, but `issue check` finds errors
    schedule_id = schedule_due(root, db)
    line = error_line_of_once(root)
    assert line.startswith(f"error: schedule {schedule_id} (issue {ISSUE} to {SEGMENT}): not sent: issue "
                           f"{ISSUE} has 1 check error(s)")
    assert "http://localhost:8000/2019/06/30/specialist-towns-credit/" in line, line
    assert handler.received == []
    assert state_of(db, schedule_id).state == ScheduleState.FAILED


def test_a_killed_schedulers_send_is_resumed_once_by_the_next(letter):
    root, db, handler = letter
    handler.faults = {"reader3@example.org": ["slow-data"]}  # its reply comes 5 s after its message
    schedule_id = schedule_due(root, db)
    victim = scheduler(root, "--once")
    deadline = time.monotonic() + 60
    while "reader3@example.org" not in handler.counts():
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    victim.kill()  # SIGKILL while reader3's message is with the server
    victim.wait()
    dead = f"{socket.gethostname()}:{victim.pid}"
    assert state_of(db, schedule_id).claimed_by == dead

    first, second = scheduler(root, "--once"), scheduler(root, "--once")
    results = [process.communicate(timeout=120) for process in (first, second)]
    assert sorted([first.returncode, second.returncode]) == [0, 1], results  # 1: some are uncertain
    lines = [line for out, err in results for line in (out + err).splitlines()]
    [line] = lines
    assert line.startswith("error: " + _gone_line(schedule_id, dead) + "incomplete: "), line
    with db.reader() as session:
        uncertain = {p.email for p in journal.problems(session, ISSUE, UNCERTAIN_STATES)}
        totals = {state: rows for state, rows in journal.counts(session, ISSUE).items() if rows}
    plural = "" if len(uncertain) == 1 else "s"
    assert "reader3@example.org" in uncertain and f"; {len(uncertain)} message{plural} may or may not" in line
    assert totals == {"sent": len(READERS) - len(uncertain), "sending": len(uncertain)}
    received = handler.counts()
    assert all(received[address] == 1 for address in READERS if address not in uncertain)
    assert all(received[address] <= 1 for address in uncertain)  # never sent again by themselves
    row = state_of(db, schedule_id)
    assert row.state == ScheduleState.INCOMPLETE and row.claimed_by not in ("", dead)


def test_another_hosts_schedule_is_taken_over_only_once_its_send_went_quiet(letter):
    root, db, handler = letter
    schedule_id = schedule_due(root, db, ago=timedelta(minutes=10))
    elsewhere = "elsewhere.example:4242"
    now = datetime.now(UTC)
    _claimed(db, schedule_id, elsewhere, now - timedelta(minutes=9))
    worker = leases.register_worker(db, ISSUE, elsewhere)

    def heard_of(ago: timedelta) -> None:
        with db.session() as session:
            session.execute(update(SendWorker).where(SendWorker.id == worker)
                            .values(heartbeat_at=datetime.now(UTC) - ago))

    heard_of(timedelta(seconds=30))  # within the lease (60 s): at work
    process = scheduler(root, "--once")
    assert process.communicate(timeout=120) == ("", "") and process.returncode == 0
    assert handler.received == [] and state_of(db, schedule_id).state == ScheduleState.SENDING

    heard_of(timedelta(minutes=5))
    process = scheduler(root, "--once")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.startswith(_gone_line(schedule_id, elsewhere) + "sent: 12 sent"), out
    assert sorted(handler.counts().items()) == sorted((address, 1) for address in READERS)
    assert state_of(db, schedule_id).state == ScheduleState.SENT
