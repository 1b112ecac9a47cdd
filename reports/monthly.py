"""The monthly quality-control report: which patient-month rows it needs (12 months ending with the
report month), building the missing ones (pathways/monthly.py, with the rules asked at each month
end and the follow-up state from pathways/care_state.py), keeping them (store/patient_months.py),
and counting every indicator of reports/indicators.py per month, institution and team into the
typed context that reports/monthly_output.py renders as HTML, CSV, PDF and a terminal summary.

Memory stays flat in the number of months: patients are read in batches once (the rows they lack
are built, in worker processes with `workers` > 1, and stored in one transaction), then each
month's stored rows are streamed through the tally (or, in a cold run, the sums counted while the
rows were built are taken); only the previous month's colours are held, for the transitions.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import msgspec

from engine.assess import Assessor, Decision
from guidelines.calendar_loader import load_calendar
from guidelines.loader import load_set
from pathways import care_state as cs
from pathways.models import Patient
from pathways.monthly import (
    ROW_VERSION,
    CareFacts,
    MonthEnd,
    PatientMonth,
    QcPolicy,
    Window,
    build_patient_month,
    left_on,
    month_end,
    month_start,
    shift_month,
    window_bounds,
)
from reports.indicators import Indicator, Tally, indicators
from store import fast_json
from store.db import open_db
from store.patient_months import (
    allow_writing_while_reading,
    forget_patients,
    iter_month,
    load_tally,
    month_rows,
    plain_records,
    save_tally,
    stored_decisions,
    stored_hashes,
    write_rows,
)
from store.roster_source import _canonical as _canonical_record
from store.validation import plausible_limits

TREND_MONTHS = 12
BATCH = 500

_decode = msgspec.json.Decoder(PatientMonth).decode
_encode = msgspec.json.Encoder().encode
# the decisions kept at visit days (table visit_decisions), without their screening plans
_decode_decisions = msgspec.json.Decoder(list[tuple[date, Decision]]).decode


@dataclass(frozen=True)
class Basis:
    """What the rows are computed with: the guideline set (its name, version and a hash of its
    parameters, so an edited quality.yaml recomputes), the window, the working-day calendar (a hash
    of the provisional-calendar setting and the days it gives: follow-up dates move by it) and the
    row version."""

    set_name: str
    set_version: str
    params_hash: str
    window: Window
    calendar_hash: str

    @property
    def key(self) -> str:
        return (f"{self.set_name}@{self.set_version}#{self.params_hash}|{self.window}"
                f"|cal{self.calendar_hash}|v{ROW_VERSION}")


def _calendar_hash(calendar, provisional: bool) -> str:
    """A short hash of the provisional-calendar setting and the working-day calendar it gave."""
    parts = [
        "provisional" if provisional else "strict",
        ",".join(str(y) for y in sorted(calendar.years)),
        ",".join(str(y) for y in sorted(calendar.provisional_years)),
        ",".join(d.isoformat() for d in sorted(calendar.holidays)),
        ",".join(d.isoformat() for d in sorted(calendar.workdays)),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


class RowBuilder:
    """Builds the PatientMonth rows of one patient for some months, asking the rules once per
    day (assessments at visit anchors are shared between months)."""

    def __init__(
        self, guidelines: str, months: list[str], provisional_calendar: bool, window: Window
    ) -> None:
        self.args = (guidelines, list(months), provisional_calendar, window)  # a worker's own copy
        self.gset = load_set(guidelines)
        # care_state counts follow-ups from the visit before the month (or enrolment): any past year
        # the sources cover; the window years, the year after and the report year are required
        last = max(month_end(m).year for m in months) + 1
        self.calendar = load_calendar(range(last - 20, last + 1), provisional=provisional_calendar)
        self.assessor = Assessor(self.gset, self.calendar)
        params = {name: p.value for name, p in self.gset.parameters.items()}
        limits = plausible_limits()["visits"]
        self.policy = QcPolicy.from_params(params, {f: (lim.min, lim.max) for f, lim in limits.items()})
        self.window = window
        color_days = {c: int(self.assessor._color_days(c)) for c in ("red", "yellow", "blue")}
        self.schedule = cs.ScheduleRules.from_params(params, color_days)
        self.complications = [
            (c.id, [i.kind for i in c.items if i.listed]) for c in self.gset.screenings.complications
        ]
        digest = hashlib.sha256(
            json.dumps(sorted((k, repr(v)) for k, v in params.items())).encode()
        ).hexdigest()
        self.basis = Basis(self.gset.name, self.gset.version, digest[:12], window,
                           _calendar_hash(self.calendar, provisional_calendar))

    def rows(
        self,
        patient: Patient,
        months: list[str],
        known: Mapping[date, Decision] | None = None,
        kept: dict[date, Decision] | None = None,
    ) -> Iterator[PatientMonth]:
        """The rows of `months` (oldest first). `known`: decisions at visit days kept from an
        earlier run for this record (see `ensure_rows`), used by the follow-up state instead of
        asking the rules again; `kept` receives the decisions the last month's follow-up state
        used, to keep for the next run."""
        cache: dict[date, Decision] = {}

        def assessed(day: date) -> Decision:
            # the lean decision (no pydantic, no texts): the fields the rows and care_state read
            decision = cache.get(day)
            if decision is None:
                decision = cache[day] = self.assessor.decide(patient, day)
            return decision

        ends: dict[date, tuple[str, str, str, dict]] = {}

        def at_end(day: date) -> tuple[str, str, str, dict]:
            # (colour, tier, LDL-C control, screening plans): a decision made already serves
            decision = cache.get(day)
            if decision is not None:
                return decision.color, decision.tier, decision.control.ldl, decision.screening
            standing = ends.get(day)
            if standing is None:
                standing = ends[day] = self.assessor.standing(patient, day)
            return standing

        def at_visit(day: date) -> Decision:
            # care_state reads no screening plan, so a kept decision (stored without them) serves
            decision = known.get(day) if known else None
            return assessed(day) if decision is None else decision

        last = len(months) - 1
        for i, month in enumerate(months):
            if kept is not None and i == last:

                def asked(day: date) -> Decision:
                    decision = kept[day] = at_visit(day)
                    return decision

                care = self._care(patient, month, asked)
            else:
                care = self._care(patient, month, at_visit)
            yield build_patient_month(
                patient,
                month,
                self.policy,
                self._month_end(patient, month, at_end),
                care,
                self.window,
            )

    def _month_end(
        self, patient: Patient, month: str, standing: Callable[[date], tuple[str, str, str, dict]]
    ) -> MonthEnd | None:
        start, end, _ = window_bounds(month, self.window)
        gone = left_on(patient)
        day = end if gone is None else min(end, gone - timedelta(days=1))
        if day < start or day < patient.enrolled_on:
            return None
        color, tier, ldl_control, plans = standing(day)
        eligible = {
            cid: tuple(k for k in kinds if k in plans and plans[k].eligible)
            for cid, kinds in self.complications
        }
        present = gone is None or gone > end
        return MonthEnd(
            color=color if present else None,
            tier=tier if present else None,
            ldl_control=ldl_control,
            eligible=eligible,
        )

    def _care(self, patient: Patient, month: str, assessed: Callable[[date], Decision]) -> CareFacts | None:
        """Follow-up state at the month end from care_state, over the contacts planned since the
        latest visit (or enrolment): a follow-up missed two months ago is still overdue now."""
        end = month_end(month)
        gone = left_on(patient)
        if patient.enrolled_on > end or (gone is not None and gone <= end):
            return None
        since = max((v.date for v in patient.visits if v.date <= end), default=patient.enrolled_on)
        state = cs.care_state(
            patient,
            lambda p, day: assessed(day),
            self.schedule,
            self.calendar,
            as_of=end,
            start=max(since, patient.enrolled_on),
            end=end,
            history_events=False,
        )
        status = str(state.contacts[-1].status) if state.contacts else None
        return CareFacts(follow_up=status, overdue=state.overdue_since() is not None, lost=state.lost)


@dataclass
class InputSummary:
    patients: int = 0
    built: int = 0  # rows built in this run
    reused: int = 0  # rows taken from the store
    digest: str = ""  # sha256 over every record's hash, in import order
    months: tuple[str, ...] = ()
    # patient_id → the 8-byte hashes of the record as known at each month end, concatenated in
    # `months` order (bytes, not strings: 100,000 patients × 12 months stay small)
    hashes: dict[str, bytes] = field(default_factory=dict)
    # month → sha256 over every patient's hash for that month: the identity of the month's rows
    month_digests: dict[str, str] = field(default_factory=dict)
    # patients with stored rows of a month read (iter_payloads) who are no longer in the roster
    departed: set[str] = field(default_factory=set)
    # the sums of every month counted while its rows were built (ensure_rows with `inds`), if all were
    counted: _Counted | None = None

    def month_hash(self, patient_id: str, month: str) -> str | None:
        packed = self.hashes.get(patient_id)
        if packed is None or month not in self.months:
            return None
        i = self.months.index(month)
        return packed[8 * i : 8 * i + 8].hex()

    def month_hashes(self, patient_id: str) -> dict[str, str]:
        """{month: the record's hash at its end} of every month of the run."""
        packed = self.hashes[patient_id]
        return {m: packed[8 * i : 8 * i + 8].hex() for i, m in enumerate(self.months)}


_DATED = ("visits", "labs", "screenings", "referrals")
_canonical = msgspec.json.Encoder(order="sorted").encode


def _plain_item(item: dict) -> dict:
    """A flat dict of the database's values in store/exporter.py's canonical form, as the encoder
    writes it (no None, no empty list, integral floats as ints; dates stay dates, which the encoder
    writes in ISO form as the exporter does): the same bytes, without its recursive walk."""
    out = {}
    for k, v in item.items():
        if v is None:
            continue
        kind = type(v)
        if kind is float:
            if v.is_integer():
                v = int(v)
        elif (kind is list or kind is tuple) and not v:
            continue
        out[k] = v
    return out


def _iso(day) -> str:
    return day if type(day) is str else day.isoformat()


def record_hashes(record: dict, months: list[str], plain_items: bool = False) -> tuple[bytes, bytes]:
    """(the 8-byte hashes of the record as known at the end of each month, concatenated; the hash
    of the whole record). A row of month M reads nothing dated after M's end, so a visit added
    in December leaves November's hash, and November's stored row, as they were. `record` is the
    canonical dict of store/exporter.py, the database's own values (`records_after(...,
    canonical=False)`) or store/patient_months.py `plain_records` (`plain_items`: its dated items
    are plain already): all hash the same."""
    head = {}
    for k, v in record.items():
        if k in _DATED or v is None:
            continue
        if type(v) is list:
            if not v:
                continue
            v = [_plain_item(x) if type(x) is dict else x for x in v]
        elif type(v) is float and v.is_integer():
            v = int(v)
        head[k] = v
    h = hashlib.sha256(_canonical(head))
    if plain_items:
        items = sorted(
            (_iso(item["date"]), name, _canonical(item)) for name in _DATED for item in record.get(name, ())
        )
    else:
        items = sorted(
            (_iso(item["date"]), name, _canonical(_plain_item(item)))
            for name in _DATED
            for item in record.get(name, ())
        )
    packed, i = [], 0
    for month in months:
        end = month_end(month).isoformat()
        while i < len(items) and items[i][0] <= end:
            h.update(items[i][1].encode() + items[i][2])
            i += 1
        packed.append(h.copy().digest()[:8])
    for _d, name, data in items[i:]:
        h.update(name.encode() + data)
    return b"".join(packed), h.digest()


def _iter_plain(db_engine) -> Iterator[dict]:
    """Every stored patient as store/patient_months.py `plain_records` reads it (the database's
    own values, child items plain), in first-import order, a batch of patients per query."""
    for batch in plain_records(db_engine, BATCH):
        yield from batch


def _patient(record: dict):
    """The record as store/fast_json.py's Struct, which reads like its `Patient` (no pydantic per
    patient); a row that does not convert is validated by pydantic, as store.read_patients does."""
    try:
        return msgspec.convert(record, fast_json.record_type())
    except msgspec.ValidationError:
        return Patient.model_validate(_canonical_record(record))


def _known_payload(stored: tuple[str, str, bytes] | None, wanted: Mapping[str, str | None]) -> bytes | None:
    """The kept visit decisions (encoded) of a patient, if the record up to the end of their month
    is still the one they were made from (its hash for that month unchanged): a decision at a day
    reads nothing dated after it (pathways/facts.py), so it holds for every month of the run."""
    if stored is None:
        return None
    month, record_hash, payload = stored
    return payload if wanted.get(month) == record_hash else None


SMALL_ROSTER = 5_000  # patients below which one process is faster than starting workers


@dataclass(frozen=True)
class _Work:
    """What a worker needs to build one patient's missing rows: the record as read, the months
    it lacks (oldest first), the record's hash at each of their ends, and the kept visit decisions
    (encoded) when they still hold (`_known_payload`)."""

    record: dict
    missing: list[str]
    hashes: list[str]
    known: bytes | None


def build_rows(
    builder: RowBuilder, work: list[_Work], inds: tuple[Indicator, ...] | None = None
) -> tuple[list[tuple[str, str, str, bytes]], list[tuple[str, str, str, bytes]], _Counted | None]:
    """(rows, visit decisions, sums) of a batch, the rows and decisions encoded as
    store/patient_months.py `save_rows` takes them: what one worker does with a batch, and the one
    process without workers. With `inds`, the rows of patients built for every month of
    `builder.args` are counted as they are made (`_Counted`)."""
    out, decisions = [], []
    counted = _Counted(builder.args[1], inds) if inds is not None else None
    for item in work:
        pid = item.record["patient_id"]
        known = None if item.known is None else dict(_decode_decisions(item.known))
        kept: dict[date, Decision] = {}
        rows = builder.rows(_patient(item.record), item.missing, known, kept)
        payloads = []
        for row, record_hash in zip(rows, item.hashes, strict=True):
            payload = _encode(row)
            payloads.append(payload)
            out.append((pid, row.month, record_hash, payload))
        if counted is not None and len(payloads) == len(counted.months):
            counted.add(pid, payloads)
        if kept:
            days = sorted(kept.items())
            payload = _encode([(day, d._replace(screening={})) for day, d in days])
            decisions.append((pid, item.missing[-1], item.hashes[-1], payload))
    return out, decisions, counted


class _Counted:
    """The sums `count_months` would count from the stored rows of `months`, counted while the rows
    are built (a cold run builds every month of every patient: reading them all back would cost
    more than counting them). Summed over batches and workers (`merge`); a cohort cell keeps the
    first patient id of each state and scope, so they can be put in the order reading the rows by
    patient id gives (`cohorts_of`)."""

    def __init__(self, months: list[str], inds: tuple[Indicator, ...]) -> None:
        self.months = list(months)
        self.inds = inds
        self.tally = Tally(inds)
        self.first: dict[str, _AsFirst] = {m: _AsFirst(inds) for m in self.months[1:]}
        # month → scope → [(first patient id, scope index), {state: [patients, first patient id]}]
        self.cohorts: dict[str, dict[tuple[str, str], list]] = {}

    def add(self, patient_id: str, payloads: list[bytes]) -> None:
        """One patient's rows of every month, oldest first: decoded, as count_months reads them."""
        previous = None
        for i, month in enumerate(self.months):
            row = _decode(payloads[i])
            self.tally.add(row, previous)
            if i:
                self.first[month].add(row)
            if (
                int(month[5:7]) % 3 == 0
                and row.care_state is not None
                and quarter_of(row.enrolled_on) == quarter_of(shift_month(month, -3))
            ):
                cells = self.cohorts.setdefault(month, {})
                scopes = (("", ""), (row.institution, ""), (row.institution, row.team))
                for j, scope in enumerate(scopes):  # a batch is in roster order, not by patient id
                    cell = cells.setdefault(scope, [(patient_id, j), {}])
                    cell[0] = min(cell[0], (patient_id, j))
                    state = cell[1].setdefault(row.care_state, [0, patient_id])
                    state[0] += 1
                    state[1] = min(state[1], patient_id)
            previous = row

    def plain(self) -> tuple:
        """The sums as plain data, for a worker to send back (indicators hold functions)."""
        return (self.tally.team_sums(), {m: f.teams for m, f in self.first.items()}, self.cohorts)

    def merge(self, plain: tuple) -> None:
        """Add the sums of `plain()` of another batch."""
        teams, first, cohorts = plain
        self.tally.add_sums(teams)
        for month, vectors in first.items():
            self.first[month].add_sums(vectors)
        for month, cells in cohorts.items():
            mine = self.cohorts.setdefault(month, {})
            for scope, (first_seen, states) in cells.items():
                cell = mine.setdefault(scope, [first_seen, {}])
                cell[0] = min(cell[0], first_seen)
                for state, (n, state_first) in states.items():
                    have = cell[1].setdefault(state, [0, state_first])
                    have[0] += n
                    have[1] = min(have[1], state_first)

    def cohorts_of(self, month: str) -> dict[tuple[str, tuple[str, str]], dict[str, int]]:
        """The month's cohort cells in the order count_months makes them from the rows read by
        patient id (a cell at its first patient, a state at its first patient in the cell)."""
        cohort_q = quarter_of(shift_month(month, -3))
        cells = sorted(self.cohorts.get(month, {}).items(), key=lambda kv: kv[1][0])
        return {
            (cohort_q, scope): {
                state: n for state, (n, _first) in sorted(states.items(), key=lambda kv: kv[1][1])
            }
            for scope, (_first, states) in cells
        }


_worker_builder: RowBuilder | None = None


def _init_worker(args: tuple) -> None:
    global _worker_builder
    _worker_builder = RowBuilder(*args)


def _build_in_worker(work: list[_Work], count: bool):
    """build_rows in a worker process. An exception the pool cannot send back (pydantic's, say)
    comes back as a RuntimeError with its text, so the parent still stops and stores nothing."""
    import pickle

    try:
        inds = indicators(complications_of(_worker_builder)) if count else None
        out, decisions, counted = build_rows(_worker_builder, work, inds)
        return out, decisions, None if counted is None else counted.plain()
    except Exception as e:
        try:
            pickle.dumps(e)
        except Exception:
            raise RuntimeError(f"{type(e).__name__}: {e}") from None
        raise


def ensure_rows(
    db_url: str,
    builder: RowBuilder,
    months: list[str],
    progress: Callable[[int], None] | None = None,
    workers: int | None = 1,
    batch_size: int = BATCH,
    inds: tuple[Indicator, ...] | None = None,
) -> InputSummary:
    """Build and store the rows of `months` the store lacks, or holds for a record that has
    changed up to that month's end; count what was built and reused. The rules' decisions at a
    patient's latest visits are kept with the rows (table visit_decisions): next month's row asks
    the rules at the month end and at a new visit only, not again at the visits before.

    `workers` processes build the rows (None: the cores, one for a roster under SMALL_ROSTER
    patients), each with its own RowBuilder, a batch of patients at a time, while this process
    reads the roster, decides what each patient lacks and stores the rows in input order: the
    same rows whatever the number. Everything is stored in one transaction: on an error (in a
    worker too) nothing of this run is kept.

    With `inds`, the rows are counted as they are built; when every row was built (none reused,
    SQLite, whose patient-id order Python's is), `summary.counted` holds the sums `count_months`
    takes instead of reading the rows back."""
    db_engine = open_db(db_url)
    allow_writing_while_reading(db_engine)
    summary = InputSummary(months=tuple(months))
    total = hashlib.sha256()
    basis = builder.basis.key
    if workers is None:
        from engine.parallel import default_workers
        from store.counts import count_patients

        workers = 1 if count_patients(db_url) < SMALL_ROSTER else default_workers()
    pool = None
    counting = inds is not None and list(months) == builder.args[1] and db_engine.dialect.name == "sqlite"
    counted = _Counted(builder.args[1], inds) if counting else None
    try:
        with db_engine.begin() as conn:
            pending: deque = deque()

            def store(result) -> None:
                out, decisions, sums = result
                if sums is not None:
                    counted.merge(sums)
                summary.built += len(out)
                write_rows(conn, basis, out, decisions)

            def plan(batch: list[dict]) -> list[_Work]:
                ids = [r["patient_id"] for r in batch]
                have = stored_hashes(db_engine, basis, ids, months)
                kept_before = stored_decisions(db_engine, basis, ids)
                work = []
                for record in batch:
                    pid = record["patient_id"]
                    wanted = summary.month_hashes(pid)
                    missing = [m for m in months if have.get((pid, m)) != wanted[m]]
                    summary.reused += len(months) - len(missing)
                    if missing:
                        known = _known_payload(kept_before.get(pid), wanted)
                        work.append(_Work(record, missing, [wanted[m] for m in missing], known))
                return work

            def flush(batch: list[dict]) -> None:
                nonlocal pool
                work = plan(batch)
                if pool is None and work and workers > 1:  # started at the first rows to build
                    import multiprocessing as mp

                    # spawn: fork would copy the parent's open database handles
                    pool = mp.get_context("spawn").Pool(
                        workers, initializer=_init_worker, initargs=(builder.args,)
                    )
                if pool is None:
                    out, decisions, mine = build_rows(builder, work, inds if counting else None)
                    store((out, decisions, None if mine is None else mine.plain()))
                else:
                    pending.append(pool.apply_async(_build_in_worker, (work, counting)))
                    while len(pending) > 2 * workers:  # a few batches ahead of the writer
                        store(pending.popleft().get())
                if progress is not None:
                    progress(summary.patients)

            per_month = [hashlib.sha256() for _ in months]
            batch: list[dict] = []
            for record in _iter_plain(db_engine):
                packed, whole = record_hashes(record, months, plain_items=True)
                total.update(whole)
                for i, digest in enumerate(per_month):
                    digest.update(record["patient_id"].encode() + b"\0" + packed[8 * i : 8 * i + 8])
                summary.hashes[record["patient_id"]] = packed
                summary.patients += 1
                batch.append(record)
                if len(batch) >= batch_size:
                    flush(batch)
                    batch = []
            if batch:
                flush(batch)
            while pending:
                store(pending.popleft().get())
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        db_engine.dispose()
    summary.digest = total.hexdigest()
    summary.month_digests = {m: d.hexdigest() for m, d in zip(months, per_month, strict=True)}
    if counted is not None and summary.reused == 0:
        summary.counted = counted
    return summary


def report_months(month: str) -> list[str]:
    """The 12 months ending with `month`, oldest first."""
    return [shift_month(month, i) for i in range(-(TREND_MONTHS - 1), 1)]


def iter_rows(db_url: str, basis: str, month: str, summary: InputSummary) -> Iterator[PatientMonth]:
    """The stored rows of `month` for the current records (a row of an older record, or of a
    patient no longer in the roster, is skipped), by patient_id."""
    for _pid, payload in iter_payloads(db_url, basis, month, summary):
        yield _decode(payload)


def iter_payloads(db_url: str, basis: str, month: str, summary: InputSummary) -> Iterator[tuple[str, bytes]]:
    """(patient_id, encoded row) of iter_rows, not decoded."""
    db_engine = open_db(db_url)
    try:
        i = summary.months.index(month) if month in summary.months else None
        hashes = summary.hashes
        for pid, rhash, payload in iter_month(db_engine, basis, month):
            packed = hashes.get(pid)
            if packed is None:
                summary.departed.add(pid)
            elif i is not None and packed[8 * i : 8 * i + 8].hex() == rhash:
                yield pid, payload
    finally:
        db_engine.dispose()


class _Previous:
    """The previous month's rows, kept encoded (a quarter of the memory of decoded rows) and
    decoded when a row of this month asks for its patient's."""

    def __init__(self, payloads: dict[str, bytes] | None = None) -> None:
        self.payloads = payloads or {}

    def get(self, patient_id: str) -> PatientMonth | None:
        payload = self.payloads.get(patient_id)
        return None if payload is None else _decode(payload)


@dataclass
class Counts:
    """Everything the report counts: the tally of every indicator per month and scope, and the
    quarterly cohorts ((enrolment quarter, scope) → care state → patients, at the end of the
    following quarter)."""

    tally: Tally
    cohorts: dict[tuple[str, tuple[str, str]], dict[str, int]] = field(default_factory=dict)


def quarter_of(d: str) -> str:
    year, mon = int(d[:4]), int(d[5:7])
    return f"{year}Q{(mon - 1) // 3 + 1}"


_tally_decode = msgspec.json.Decoder().decode


def _tally_key(basis: str, month: str, summary: InputSummary, previous: str | None, inds) -> str:
    """A month's counts depend on its rows, the previous month's rows (colour changes) and the
    indicator list."""
    parts = [
        basis,
        month,
        summary.month_digests[month],
        summary.month_digests[previous] if previous else "-",
        ",".join(i.code for i in inds),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class _AsFirst:
    """The sums of a month counted as the first month of a later report (no previous month):
    those of the indicators that read the previous month's row, counted again without it; the
    others' are the month's own. Kept beside the month's tally, so next month's report, whose
    first month this is, counts no rows of it."""

    def __init__(self, inds: tuple[Indicator, ...]) -> None:
        self.slots = [(i, ind.numerator, ind.denominator) for i, ind in enumerate(inds) if ind.previous]
        self.teams: dict[tuple[str, str], list[int]] = {}

    def add(self, row: PatientMonth) -> None:
        vec = self.teams.get((row.institution, row.team))
        if vec is None:
            vec = self.teams[(row.institution, row.team)] = [0] * (2 * len(self.slots))
        for j, (_i, numerator, denominator) in enumerate(self.slots):
            num = numerator(row, None)
            if num:
                vec[2 * j] += num
            den = num if denominator is None else denominator(row, None)
            if den:
                vec[2 * j + 1] += den

    def add_sums(self, teams: dict[tuple[str, str], list[int]]) -> None:
        """Add the `teams` sums of another _AsFirst of the same month."""
        for key, vec in teams.items():
            total = self.teams.setdefault(key, [0] * len(vec))
            for k, v in enumerate(vec):
                total[k] += v

    def vectors(self, own: list[tuple[str, str, list[int]]]) -> list[tuple[str, str, list[int]]]:
        out = []
        for inst, team, vec in own:
            mine, vec = self.teams[(inst, team)], list(vec)
            for j, (i, _n, _d) in enumerate(self.slots):
                vec[2 * i], vec[2 * i + 1] = mine[2 * j], mine[2 * j + 1]
            out.append((inst, team, vec))
        return out


def count_months(
    db_url: str, basis: str, months: list[str], summary: InputSummary, inds: tuple[Indicator, ...]
) -> Counts:
    """Count every indicator of `months` (oldest first). A month whose rows, and the previous
    month's, are those of an earlier count is taken from the stored tallies; the others are
    counted from their rows (or taken from `summary.counted`, counted while they were built) and
    stored, each also as the first month of a later report (`_AsFirst`)."""
    counts = Counts(Tally(inds))
    db_engine = open_db(db_url)
    try:
        keys = [
            _tally_key(basis, m, summary, months[i - 1] if i else None, inds) for i, m in enumerate(months)
        ]
        stored = [load_tally(db_engine, k) for k in keys]
        counted = summary.counted
        if counted is not None and counted.months != list(months):
            counted = None
        rows_of = month_rows(db_engine, basis, months) if counted is not None else {}

        def look_for_departed(month: str) -> None:
            # what reading the month's rows notes (summary.departed), without reading them when
            # the month holds one row per patient of the roster and no other
            if rows_of.get(month, 0) != summary.patients:
                for _ in iter_payloads(db_url, basis, month, summary):
                    pass

        previous = _Previous()
        for i, month in enumerate(months):
            following_needs_rows = i + 1 < len(months) and stored[i + 1] is None
            if stored[i] is not None:
                data = _tally_decode(stored[i])
                counts.tally.add_vectors(month, [tuple(v) for v in data["teams"]])
                for quarter, inst, team, states in data["cohorts"]:
                    counts.cohorts[(quarter, (inst, team))] = states
                if counted is not None:
                    if following_needs_rows:
                        look_for_departed(month)
                    continue
                previous = _Previous(
                    dict(iter_payloads(db_url, basis, month, summary)) if following_needs_rows else None
                )
                continue
            if counted is not None:  # counted while built: the same sums, in the same order
                look_for_departed(month)
                counts.tally.add_vectors(month, counted.tally.team_vectors(month))
                cohorts = counted.cohorts_of(month)
                counts.cohorts.update(cohorts)
                payload = {
                    "teams": counts.tally.team_vectors(month),
                    "cohorts": [[q, sc[0], sc[1], st] for (q, sc), st in sorted(cohorts.items())],
                }
                save_tally(db_engine, keys[i], month, _encode(payload))
                if i:
                    payload["teams"] = counted.first[month].vectors(payload["teams"])
                    save_tally(db_engine, _tally_key(basis, month, summary, None, inds), month,
                               _encode(payload))
                continue
            cohorts: dict[tuple[str, tuple[str, str]], dict[str, int]] = {}
            current: dict[str, bytes] = {}
            as_first = _AsFirst(inds) if i else None  # the first month counts as first already
            quarter_end = int(month[5:7]) % 3 == 0
            cohort_q = quarter_of(shift_month(month, -3)) if quarter_end else None
            for pid, encoded in iter_payloads(db_url, basis, month, summary):
                row = _decode(encoded)
                counts.tally.add(row, previous.get(pid))
                if as_first is not None:
                    as_first.add(row)
                if following_needs_rows:
                    current[pid] = encoded
                if (
                    cohort_q is not None
                    and row.care_state is not None
                    and quarter_of(row.enrolled_on) == cohort_q
                ):
                    for scope in (("", ""), (row.institution, ""), (row.institution, row.team)):
                        cell = cohorts.setdefault((cohort_q, scope), {})
                        cell[row.care_state] = cell.get(row.care_state, 0) + 1
            counts.cohorts.update(cohorts)
            payload = {
                "teams": counts.tally.team_vectors(month),
                "cohorts": [[q, sc[0], sc[1], st] for (q, sc), st in sorted(cohorts.items())],
            }
            save_tally(db_engine, keys[i], month, _encode(payload))
            if as_first is not None:
                payload["teams"] = as_first.vectors(payload["teams"])
                save_tally(db_engine, _tally_key(basis, month, summary, None, inds), month, _encode(payload))
            previous = _Previous(current)
        if summary.departed:  # seen while counting (a departure changes every month's rows' identity)
            forget_patients(db_engine, sorted(summary.departed))
    finally:
        db_engine.dispose()
    return counts


def complications_of(builder: RowBuilder) -> list[tuple[str, str, str]]:
    return [(c.id, c.name, c.name_en or c.id) for c in builder.gset.screenings.complications]


def prepare(
    db_url: str,
    guidelines: str,
    month: str,
    window: Window,
    provisional_calendar: bool,
    progress: Callable[[int], None] | None = None,
    workers: int | None = 1,
) -> tuple[RowBuilder, InputSummary, Counts]:
    """Build what is missing (in `workers` processes: `ensure_rows`) and count every indicator of
    the 12 months ending with `month`."""
    months = report_months(month)
    builder = RowBuilder(guidelines, months, provisional_calendar, window)
    inds = indicators(complications_of(builder))
    summary = ensure_rows(db_url, builder, months, progress, workers, inds=inds)
    counts = count_months(db_url, builder.basis.key, months, summary, inds)
    return builder, summary, counts


def last_complete_month(as_of: date) -> str:
    """The month before the one `as_of` falls in, unless `as_of` is its last day."""
    if (as_of + timedelta(days=1)).month != as_of.month:
        return f"{as_of.year:04d}-{as_of.month:02d}"
    prev = month_start(f"{as_of.year:04d}-{as_of.month:02d}") - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"


@dataclass(frozen=True)
class PatientLine:
    """One patient behind an indicator value (drill-down): never the resident ID, the name masked."""

    patient_id: str
    name: str
    institution: str
    team: str
    reason: str


def drill_down(
    db_url: str,
    guidelines: str,
    month: str,
    window: Window,
    provisional_calendar: bool,
    code: str,
    which: str,
    team: str | None = None,
    institution: str | None = None,
) -> list[PatientLine]:
    """The patients of `month` in the numerator, the denominator or the denominator but not the
    numerator (`which`) of indicator `code`, for one team or institution (or all), by patient_id."""
    from pathways.resident_id import mask_name
    from store.patient_months import names_of

    months = [shift_month(month, -1), month]
    builder = RowBuilder(guidelines, months, provisional_calendar, window)
    summary = ensure_rows(db_url, builder, months)
    inds = {i.code: i for i in indicators(complications_of(builder))}
    ind = inds[code]
    previous = {r.patient_id: r for r in iter_rows(db_url, builder.basis.key, months[0], summary)}
    found: list[PatientMonth] = []
    for row in iter_rows(db_url, builder.basis.key, month, summary):
        if (team is not None and row.team != team) or (
            institution is not None and row.institution != institution
        ):
            continue
        prev = previous.get(row.patient_id)
        num = bool(ind.numerator(row, prev))
        den = bool(ind.denominator(row, prev)) if ind.denominator is not None else num
        if (
            (which == "numerator" and num)
            or (which == "denominator" and den)
            or (which == "not-numerator" and den and not num)
        ):
            found.append(row)
    db_engine = open_db(db_url)
    try:
        names = names_of(db_engine, [r.patient_id for r in found])
    finally:
        db_engine.dispose()
    return [
        PatientLine(
            r.patient_id,
            mask_name(names.get(r.patient_id)),
            r.institution,
            r.team,
            ind.reason(r) if ind.reason is not None else "",
        )
        for r in found
    ]


def known_scopes(
    db_url: str, guidelines: str, month: str, window: Window, provisional_calendar: bool
) -> tuple[list[str], list[str]]:
    """(institutions, teams) among the stored rows of `month` (after a drill-down built them)."""
    builder = RowBuilder(guidelines, [month], provisional_calendar, window)
    summary = ensure_rows(db_url, builder, [month])
    institutions, teams = set(), set()
    for row in iter_rows(db_url, builder.basis.key, month, summary):
        institutions.add(row.institution)
        teams.add(row.team)
    return sorted(i for i in institutions if i), sorted(t for t in teams if t)
