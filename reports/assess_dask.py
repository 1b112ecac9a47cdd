"""A run of `sangao assess --executor dask` (engine/dask_executor.py): which option combinations it
refuses, and the run itself: a bucketed Parquet roster folder (store/parquet.py) assessed on a Dask
cluster, written as JSONL (export order) or as Parquet by the workers, or saved in the database.

It lives here, not in engine/, because it glues the engine to store/ (the manifest, the saved
assessments).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO


def usage_problem(on_dask_executor: bool, roster: Path | None, filtered: bool, fmt: str, save: bool,
                  out: Path | None, lang: str) -> tuple[str, str] | None:
    """Why this combination of options cannot run on Dask, as (message in `lang`, the option to
    name), or None when it can. `fmt` is the --format value."""
    def usage(zh: str, en: str, hint: str) -> tuple[str, str]:
        return (zh if lang == "zh" else en), hint

    if not on_dask_executor:
        return usage("--scheduler 与 --format parquet 需要 --executor dask",
                     "--scheduler and --format parquet need --executor dask", "--executor")
    if roster is None or not roster.is_dir():
        return usage("--executor dask 读取 sangao roster export --format parquet 写出的文件夹："
                     "--roster 文件夹",
                     "--executor dask reads a folder written by sangao roster export --format parquet: "
                     "--roster FOLDER", "--roster")
    if filtered:
        return usage("--executor dask 评估全部患者：不能与 --color、--referral、--team、--due-within 同用",
                     "--executor dask assesses everyone: no --color, --referral, --team or --due-within",
                     "--executor")
    if fmt == "csv" or (fmt == "table" and not save):
        return usage("--executor dask 输出 --format jsonl 或 parquet（或只用 --save 存库）",
                     "--executor dask writes --format jsonl or parquet (or only --save)", "--format")
    if fmt == "parquet" and (out is None or save or (out.exists() and not out.is_dir())):
        return usage("--format parquet 需要 --out 文件夹（不与 --save 同用）",
                     "--format parquet needs --out FOLDER (and no --save)", "--out")
    return None


def assess_on_dask(roster: Path, db: str, out: Path | None, fmt: str, save: bool, scheduler: str | None,
                   workers: int | None, options, counts, guidelines: str, lang: str, stdout: BinaryIO,
                   progress: Callable[[str, int], AbstractContextManager[Callable[[], None]]]) -> None:
    """Assess the bucketed roster folder `roster` on the scheduler at `scheduler` (else on `workers`
    local processes): Parquet files into the folder `out`, or JSONL lines to `out` (else `stdout`),
    and with `save` the assessments stored in `db`. `progress(label, buckets)` is the bar ticked
    once per finished bucket. Options are checked first with usage_problem()."""
    from engine import dask_executor
    from store.parquet import MANIFEST, read_manifest
    from store.privacy import open_private
    from store.sources import db_url, provenance

    # the workers read the files by the paths sent to them: absolute, wherever they run
    bucketed = read_manifest(roster.absolute())
    label = "评估（分桶）" if lang == "zh" else "assess (buckets)"
    with dask_executor.dask_client(scheduler, workers) as client, \
            progress(label, len(bucketed.paths)) as tick:
        if fmt == "parquet":
            dask_executor.assess_to_parquet(bucketed, options, client, out, counts, progress=tick)
            return
        lines = None
        if fmt == "jsonl":
            target = open_private(out, "wb") if out is not None else stdout
            try:
                lines = dask_executor.assess_jsonl(bucketed, options, client, target, counts, progress=tick)
            finally:
                if out is not None:
                    target.close()
        if save:
            import store
            from pathways.models import Assessment

            if lines is None:  # only saved: bucket by bucket as they finish
                lines = dask_executor.assess_lines(bucketed, options, client, counts, progress=tick)
            made_by = provenance(guidelines, roster / MANIFEST, db)
            validated = map(Assessment.model_validate_json, lines)
            for _ in store.save_assessments(db_url(db), validated, made_by):
                pass
