"""No personal value in any log line of the whole test run (issue 11): a pytest plugin, registered by tests/conftest.py.

From the start of the session, a handler on the root logger (and on every logger
that does not propagate to it) writes each record the test process emits, its
exception and stack included, to a file of a watch directory. No logger's level
is changed: a record is kept when it would have been emitted anyway, so tests
and ``caplog`` behave as before. The processes the tests start write their
output into files of the same directory (``output``), or hand over what they
wrote elsewhere before it is removed (``keep``) or what was read from them
(``note``). Files stay on disk, so memory does not grow with the run.

At the end of the session every line is searched for every personal value the
tests record (``lookout``): the names, e-mail addresses and phone numbers noted
with ``tests.support.personal``, every name the demo generator can make
(``services.demo``), the personal fields of the import example
(``docs/examples``), and any e-mail address at all. A line holding one is
printed in the terminal summary, and the session fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import itertools
import logging
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import msgspec
import pytest

from domain.events import encode_data, type_name
from domain.privacy import personal_values
from services.demo import FIRST_NAMES, LAST_NAMES
from services.importing.mapping import Candidate, MappingContext, Row, load_mapping, map_row
from services.importing.source import read_rows
from tests.support import PERSONAL_PATTERNS, PERSONAL_VALUES

EXAMPLES: Final = Path(__file__).resolve().parents[1] / "docs" / "examples"
TEST_MARK: Final = "\x1e"
"""Starts a line of the in-process file that names the test logging next (not a log line)."""
EMAIL: Final = r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}"
"""Any e-mail address: users', contacts', the demo's; none belongs in a log line."""
SHOWN: Final = 50
"""At most this many offending lines are printed (all are counted)."""
_PROBING: Final = contextvars.ContextVar("log_watch_probing", default=False)
"""Set inside ``probing``: the records logged are a test's deliberate leak."""


def forms(value: str) -> set[str]:
    """``value`` as a log line could hold it: as is, and a phone number without its spaces, with dashes, as digits.

    Letter case does not matter: the search ignores it.
    """
    found = {value}
    digits = re.sub(r"\D", "", value)
    if re.fullmatch(r"\+?[\d\s().-]+", value):
        found |= {value.replace(" ", ""), value.replace(" ", "-")}
        if len(digits) >= 10:  # shorter runs of digits are in counts, ports and times
            found.add(digits)
    return found


class Lookout:
    """Every personal value a log line must not hold, searched for at once, whole words only, ignoring case."""

    def __init__(self, values: Iterable[str], patterns: Iterable[tuple[str, int]] = ()) -> None:
        """``values`` literally (each in its ``forms``) and ``patterns``: (regular expression, values it stands for)."""
        self.values = sorted({form for value in values for form in forms(value)}, key=len, reverse=True)
        self.patterns = list(patterns)
        alternatives = [re.escape(value) for value in self.values] + [pattern for pattern, _ in self.patterns]
        self._expression = re.compile(r"(?<!\w)(?:" + "|".join(alternatives or ["(?!)"]) + r")(?!\w)", re.IGNORECASE)

    @property
    def count(self) -> int:
        """How many values are looked for (a pattern counts as the values it stands for)."""
        return len(self.values) + sum(n for _, n in self.patterns)

    def found_in(self, line: str) -> list[str]:
        """The personal values ``line`` holds, as written there."""
        return [match.group() for match in self._expression.finditer(line)]


def one_of(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words`` (case ignored), as a trie: a word is given up at its first
    letter that no word has there, rather than tried word by word at every place of every line."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for letter in word.lower():
            node = node.setdefault(letter, {})
        node[""] = {}

    def expression(node: dict[str, Any]) -> str:
        branches = [re.escape(letter) + expression(rest) for letter, rest in sorted(node.items()) if letter]
        if "" in node:
            return f"(?:{'|'.join(branches)})?" if branches else ""
        return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"

    return expression(trie)


def demo_names() -> list[tuple[str, int]]:
    """Every name the demo generator gives a person: a contact's "First Last", a participant's "First L."."""
    first = one_of(FIRST_NAMES)
    last = one_of(LAST_NAMES)
    initials = sorted({name[0] for name in LAST_NAMES})
    return [
        (rf"(?:{first})\s+(?:{last})", len(FIRST_NAMES) * len(LAST_NAMES)),
        (rf"(?:{first})\s+[{''.join(initials)}]\.", len(FIRST_NAMES) * len(initials)),
    ]


def import_example_values() -> set[str]:
    """The personal fields of the events ``docs/examples/import-example.csv`` makes under its mapping."""
    mapping = load_mapping(EXAMPLES / "import-mapping.toml")
    context = MappingContext(namespace=uuid.uuid4(), time_zone=dt.UTC, users_by_email=_EveryUser())
    found: set[str] = set()
    for row in read_rows(EXAMPLES / "import-example.csv", "csv"):
        mapped = map_row(mapping, row, context) if isinstance(row, Row) else None
        if isinstance(mapped, Candidate):
            event = mapped.incoming.event
            found |= {value for _, value in personal_values(type_name(event), msgspec.json.decode(encode_data(event)))}
    return found


class _EveryUser(Mapping[str, uuid.UUID]):
    """Every e-mail address names a user: the example's counselor need not exist for its rows to map."""

    def __getitem__(self, email: str) -> uuid.UUID:
        return uuid.UUID(int=1)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def lookout() -> Lookout:
    """What the run's log lines are searched for: the values tests noted (as they ran), the demo's names, the import
    example's, and any e-mail address."""
    return Lookout(
        PERSONAL_VALUES | import_example_values(),
        [*demo_names(), *((pattern, 1) for pattern in sorted(PERSONAL_PATTERNS)), (EMAIL, 0)],
    )


@dataclass(frozen=True)
class Finding:
    """A log line holding a personal value: where it is, what it holds, and the test that was running."""

    source: str
    line_number: int
    test: str
    value: str
    line: str

    def describe(self) -> str:
        """Two lines for the terminal summary: where and what, then the line (cut around the value when long)."""
        where = f"{self.source}, line {self.line_number}" + (f" ({self.test})" if self.test else "")
        at = max(self.line.lower().find(self.value.lower()), 0)
        shown = self.line if len(self.line) <= 240 else "…" + self.line[max(at - 100, 0) : at + 140] + "…"
        return f"{where}: {self.value!r}\n    {shown}"


@dataclass(frozen=True)
class Scan:
    """What the end of the session searched and found."""

    lines: int
    files: int
    values: int
    findings: list[Finding]


class _Keeper(logging.Handler):
    """Writes each record it handles to the in-process file: the formatted message, exception and stack."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(logging.NOTSET)
        self.stream = stream
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self._last: logging.LogRecord | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record, once even when it passes two loggers this handler is on."""
        if record is self._last or _PROBING.get():
            return
        self._last = record
        try:
            self.stream.write(self.format(record).replace(TEST_MARK, "\\x1e") + "\n")
        except Exception:
            self.handleError(record)

    def mark(self, test: str) -> None:
        """Note that what follows is logged while ``test`` runs."""
        with self.lock or contextlib.nullcontext():
            self.stream.write(f"{TEST_MARK}{test}\n")


class LogWatch:
    """One session's watch directory: the test process's log records and the output of the processes it starts."""

    def __init__(self) -> None:
        self._directory: Path | None = None
        self._sources: dict[Path, str] = {}  # each file of the directory and what wrote it
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._keeper: _Keeper | None = None
        self._reached: list[logging.Logger] = []
        self.test = ""

    @property
    def directory(self) -> Path:
        """The watch directory, made when first needed (also outside a session: then nobody searches it)."""
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="pl-log-watch-"))
            return self._directory

    def _new_file(self, label: str) -> Path:
        path = self.directory / f"{next(self._numbers):05d}.log"
        with self._lock:
            self._sources[path] = f"{label} ({self.test})" if self.test else label
        return path

    def start(self) -> None:
        """Keep every log record of this process from now on."""
        stream = self._new_file("log records of the test process").open(
            "a", encoding="utf-8", errors="backslashreplace"
        )
        self._keeper = _Keeper(stream)
        self.reach()

    def reach(self) -> None:
        """Put the handler on the root logger and on each logger that does not propagate to it (uvicorn's own)."""
        if self._keeper is None:
            return
        loggers = [logging.getLogger()] + [
            logger
            for logger in list(logging.Logger.manager.loggerDict.values())
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]
        for logger in loggers:
            if self._keeper not in logger.handlers:
                logger.addHandler(self._keeper)
                self._reached.append(logger)

    def test_starts(self, nodeid: str) -> None:
        """Name the test whose records and processes follow."""
        self.test = nodeid
        if self._keeper is not None:
            self._keeper.mark(nodeid)
        self.reach()

    def output(self, label: str) -> Path:
        """A new file of the watch directory for a process to write its output into (``label``: which process)."""
        return self._new_file(label)

    def keep(self, path: Path, label: str) -> None:
        """A copy of a log file a process wrote elsewhere, taken before it is removed (nothing when there is none)."""
        if path.is_file():
            shutil.copyfile(path, self._new_file(f"{label}: {path.name}"))

    def note(self, label: str, text: str | bytes) -> None:
        """Output already read from a process (its standard error)."""
        data = text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text
        self._new_file(label).write_bytes(data)

    def stop(self) -> None:
        """Take the handler off every logger it was put on and close the in-process file."""
        if self._keeper is None:
            return
        for logger in self._reached:
            logger.removeHandler(self._keeper)
        self._reached.clear()
        self._keeper.close()
        self._keeper.stream.close()
        self._keeper = None

    def scan(self, looked_for: Lookout) -> Scan:
        """Every line of every file of the watch directory, searched for ``looked_for``'s values."""
        if self._keeper is not None:
            self._keeper.flush()
            self._keeper.stream.flush()
        with self._lock:
            sources = dict(self._sources)
        lines, findings = 0, []
        for path, label in sources.items():
            test = ""
            for number, line in enumerate(_lines(path), start=1):
                if line.startswith(TEST_MARK):
                    test = line[1:]
                    continue
                lines += 1
                findings += [Finding(label, number, test, value, line) for value in looked_for.found_in(line)]
        return Scan(lines=lines, files=len(sources), values=looked_for.count, findings=findings)

    def remove(self) -> None:
        """The watch directory, removed."""
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None
            self._sources.clear()


def _lines(path: Path) -> Iterator[str]:
    try:
        with path.open(encoding="utf-8", errors="replace", newline=None) as handle:
            for line in handle:
                yield line.rstrip("\n")
    except FileNotFoundError:
        return


WATCH: Final = LogWatch()
"""The watch of this process's session."""


def output(label: str) -> Path:
    """A file for a process's output (standard output and error), searched at the end of the session."""
    return WATCH.output(label)


def keep(path: Path, label: str) -> None:
    """A log file about to be removed (with its folder), copied to be searched at the end of the session."""
    WATCH.keep(path, label)


def note(label: str, text: str | bytes) -> None:
    """A process's output read into memory (its standard error), searched at the end of the session."""
    WATCH.note(label, text)


@contextlib.contextmanager
def probing() -> Iterator[None]:
    """Records logged inside are a test's deliberate leak, made to show that a search finds it: the watch skips them."""
    token = _PROBING.set(True)
    try:
        yield
    finally:
        _PROBING.reset(token)


# --- the plugin's hooks ---------------------------------------------------------------------------------------------

_SCAN: Final = pytest.StashKey[Scan]()


def pytest_sessionstart(session: pytest.Session) -> None:
    WATCH.start()


def pytest_runtest_logstart(nodeid: str) -> None:
    WATCH.test_starts(nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup() -> Generator[None, object, object]:
    # A fixture may configure logging (uvicorn.Config does): the loggers it made reach the handler at once.
    __tracebackhide__ = True  # not in the traceback of a fixture that fails
    try:
        return (yield)
    finally:
        WATCH.reach()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    # trylast: after the session's fixtures are torn down, so that what they logged and kept is searched too.
    WATCH.test_starts("after the tests")
    scan = WATCH.scan(lookout())
    WATCH.stop()
    session.config.stash[_SCAN] = scan
    if scan.findings:
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    else:
        WATCH.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    scan = config.stash.get(_SCAN, None)
    if scan is None:
        return
    files = f"{scan.files} file" + ("" if scan.files == 1 else "s")
    searched = f"{scan.lines:,} log lines in {files} searched for {scan.values:,} personal values"
    if not scan.findings:
        terminalreporter.write_sep("=", "log watch (tests/log_watch.py)")
        terminalreporter.write_line(f"log watch: {searched} and any e-mail address: none found")
        return
    terminalreporter.write_sep("=", "personal data in log lines (tests/log_watch.py)", red=True)
    for finding in scan.findings[:SHOWN]:
        terminalreporter.write_line(finding.describe())
    more = f" ({len(scan.findings) - SHOWN} more not shown)" if len(scan.findings) > SHOWN else ""
    terminalreporter.write_line(
        f"log watch: {searched}: {len(scan.findings)} found{more}; the files are kept in {WATCH.directory}", red=True
    )
