"""The whole run's log watch (tests/log_watch.py) in a pytest session of its own: a personal value in a log line of
the test process or of a process it started fails the session and is printed; a run without one passes and says what
it searched.

The sessions run in a Python process of their own (``runpytest_subprocess``), so that their watch is not this run's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.log_watch import import_example_values

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = 'pytest_plugins = ["tests.log_watch"]\n'

LEAKS = """
import logging
from pathlib import Path

from services.demo import FIRST_NAMES, LAST_NAMES
from tests import log_watch
from tests.support import personal

NAME = personal("Philippa Wolstenholme-Ngata")


def test_logs_a_name_the_tests_noted():
    logging.getLogger("peoplelinks.api").warning("enrolled %s", NAME)


def test_logs_an_exception_holding_an_email_address():
    try:
        raise ValueError("no user ysolde.fairweather@northside.example")
    except ValueError:
        logging.getLogger("peoplelinks.worker").exception("job failed")


def test_a_process_logs_a_demo_name():
    with log_watch.output("peoplelinks worker").open("w") as output:
        output.write(f"INFO peoplelinks.worker: contact {FIRST_NAMES[1]} {LAST_NAMES[2]} added\\n")


def test_a_log_file_kept_before_its_folder_is_removed(tmp_path):
    log = tmp_path / "postgres.log"
    log.write_text("LOG:  starting\\nDETAIL:  Key (name)=(Dana Whitfield) already exists.\\n")
    log_watch.keep(log, "PostgreSQL")
    log.unlink()


def test_logs_no_name():
    logging.getLogger("peoplelinks.api").warning("enrolled participant-0f6c8e3e-4d47-4c1b-9d1e-1f0b6c1d2e3f")
"""

CLEAN = """
import logging

from tests import log_watch


def test_levels_and_caplog_are_as_without_the_watch(caplog):
    assert logging.getLogger().level == logging.WARNING
    assert logging.getLogger("peoplelinks.api").level == logging.NOTSET
    logging.getLogger("peoplelinks.api").info("not emitted: below the root logger's level")
    with caplog.at_level(logging.INFO):
        logging.getLogger("peoplelinks.api").info("enrolled participant-0f6c8e3e")
    assert caplog.messages == ["enrolled participant-0f6c8e3e"]


def test_a_process_logs_no_name():
    with log_watch.output("peoplelinks api").open("w") as output:
        output.write("INFO peoplelinks.http: POST /v1/participants/{participant_id:uuid}/events 201\\n")
"""


@pytest.fixture
def session(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A folder for a session that registers the log watch, as tests/conftest.py does."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's tests, services and domain
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_personal_values_in_log_lines_fail_the_session_and_are_printed(session: pytest.Pytester) -> None:
    session.makepyfile(test_leaks=LEAKS)

    result = session.runpytest_subprocess("-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=5)  # every test passed: the watch alone failed the session
    result.stdout.fnmatch_lines(
        [
            "*= personal data in log lines (tests/log_watch.py) =*",
            "log records of the test process, line * (test_leaks.py::test_logs_a_name_the_tests_noted): "
            "'Philippa Wolstenholme-Ngata'",
            "    peoplelinks.api WARNING enrolled Philippa Wolstenholme-Ngata",
            # The exception's text: its traceback's source line, then its message.
            "log records of the test process, line * "
            "(test_leaks.py::test_logs_an_exception_holding_an_email_address): 'ysolde.fairweather@northside.example'",
            '        raise ValueError("no user ysolde.fairweather@northside.example")',
            "log records of the test process, line * "
            "(test_leaks.py::test_logs_an_exception_holding_an_email_address): 'ysolde.fairweather@northside.example'",
            "    ValueError: no user ysolde.fairweather@northside.example",
            "peoplelinks worker (test_leaks.py::test_a_process_logs_a_demo_name), line 1: 'Andre Baker'",
            "PostgreSQL: postgres.log (test_leaks.py::test_a_log_file_kept_before_its_folder_is_removed), line 2: "
            "'Dana Whitfield'",
            "log watch: * log lines in 3 files searched for * personal values: 5 found; the files are kept in *",
        ]
    )
    assert "participant-0f6c8e3e" not in result.stdout.str()
    # The files are kept for a look at the offending lines (here removed: this leak was made on purpose).
    kept = Path(result.stdout.str().split("the files are kept in ")[1].split()[0])
    assert sorted(path.name for path in kept.iterdir()) == ["00001.log", "00002.log", "00003.log"]
    shutil.rmtree(kept)


def test_a_session_without_personal_values_in_its_log_lines_passes_and_says_what_it_searched(
    session: pytest.Pytester,
) -> None:
    session.makepyfile(test_clean=CLEAN)

    result = session.runpytest_subprocess("-p", "no:cacheprovider")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= log watch (tests/log_watch.py) =*",
            # The record caplog let through, and the process's line; not the one below the root logger's level.
            "log watch: 2 log lines in 2 files searched for * personal values and any e-mail address: none found",
        ]
    )


def test_the_import_examples_personal_fields_are_looked_for() -> None:
    assert {"Dana Whitfield", "dana.whitfield@example.org", "555-0101", "Jordan Reyes"} <= import_example_values()
    assert "Riverside Logistics" not in import_example_values()  # an employer: not a person (domain/privacy.py)
