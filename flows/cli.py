"""The ``textmine`` command (docs/contract.md §2): run, validate, synth, serve, ui.

Bad input ends with one message on standard error that names the file, row or
column and the fix, exit status 2, and no traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import typing
from pathlib import Path

import flows  # noqa: F401  (sets Prefect's environment defaults before Prefect loads)
from flows.logs import DISK_ERRORS, quiet_user_error_tracebacks
from flows.serve import serve as serve_deployment
from textmine.analysis import labels as labels_mod
from textmine.analysis.identity import check_previous
from textmine.analysis.labels import load_labels
from textmine.core.cachedir import cache_info, mark_existing, prune
from textmine.core.config import AlignConfig, RunConfig, load_config
from textmine.core.errors import TextmineError, escape
from textmine.core.registry import MODELS
from textmine.io.corpus import load_corpus, yearly_quality_table
from textmine.outputs.rerun import reuse_finished, reused_from
from textmine.synth.synth import SynthSpec, write_corpus
from textmine.text.tokenize import discover_terms, load_profile
from textmine.ui.server import DEFAULT_HOST, DEFAULT_PORT, UIServer, announce, plan

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = REPO_ROOT / "corpora" / "ujp-synthetic"
EXIT_BAD_INPUT = 2


def _column_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("columns (default: recognised from Korean or English headers)")
    group.add_argument("--id-col", help="column holding the opinion id (연번, 번호, ID...)")
    group.add_argument("--year-col", help="column holding the year (연도, 년도, 평가연도...)")
    group.add_argument("--date-col", help="column holding a date, the year taken from it (날짜, 일자...)")
    group.add_argument("--text-col", help="column holding the opinion text (평가의견, 의견, 내용...)")


def _column_overrides(args: argparse.Namespace) -> dict[str, str]:
    return {f"corpus.{k}": getattr(args, k) for k in ("id_col", "year_col", "date_col", "text_col")
            if getattr(args, k, None)}


class _ReportSetting(argparse.Action):
    """A flag that stands for ``--set report.KEY=VALUE``; with ``join``, repeated flags collect their
    values into one list (``--by 지역 --by 대학명`` -> ``report.by=지역,대학명``)."""

    def __init__(self, option_strings, dest, key: str, join: bool = False, **kwargs):
        self.key, self.join = key, join
        super().__init__(option_strings, dest="set", default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, value, option_string=None):
        items = list(getattr(namespace, "set", None) or [])
        prefix = f"{self.key}="
        if self.join:
            earlier = [i[len(prefix):] for i in items if i.startswith(prefix)]
            items = [i for i in items if not i.startswith(prefix)]
            value = ",".join([*earlier[-1:], value])
        setattr(namespace, "set", [*items, prefix + value])


def _labels_file(value: str) -> str:
    """--labels: a TOML labels file that parses (checked now, before anything starts), as an absolute path."""
    try:
        load_labels(value)
    except TextmineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return str(Path(value).expanduser().resolve())


def _previous_run(value: str) -> str:
    """--previous: a finished run folder, as an absolute path."""
    try:
        return str(check_previous(value).resolve())
    except TextmineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textmine", description="Topic trajectories and phases of Korean opinions.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole Prefect flow on a corpus")
    run.add_argument("corpus", nargs="?", help="corpus file or folder (default: the bundled synthetic corpus)")
    run.add_argument("--out", help="folder for run folders (default: outputs)")
    run.add_argument("--config", help="TOML config file")
    run.add_argument("--models", help=f"comma-separated models to fit (default: {','.join(RunConfig().models)}); "
                                      + MODELS.help())
    run.add_argument("--phases", help="number of phases, or 'auto' (default)")
    run.add_argument("--seed", type=int, help="random seed")
    run.add_argument("--time-unit", choices=list(typing.get_args(AlignConfig.model_fields["time_unit"].annotation)),
                     help="time slice of trajectories and phases (default: year; finer units need dates)")
    run.add_argument("--reselect", action="store_true",
                     help="search the k / cluster-size grids again even when an earlier run on this corpus chose them")
    run.add_argument("--no-reuse", action="store_true",
                     help="run the flow even when a finished run had the same corpus, settings and code (otherwise "
                          "its folder is copied; run.reuse_finished)")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override any config setting, e.g. --set lda.num_topics=10 (repeatable)")
    run.add_argument("--by", action=_ReportSetting, key="report.by", join=True, metavar="COLUMN",
                     help="break the topics down by this metadata column (repeatable; report.by): breakdowns.csv, "
                          "effects.csv, a chart per model and column")
    run.add_argument("--labels", action=_ReportSetting, key="report.labels", type=_labels_file, metavar="FILE",
                     help="topic names, a TOML file ([lda] then 3 = \"성과 관리\"; report.labels), used by the report "
                          "and copied into the run folder as labels.toml")
    run.add_argument("--previous", action=_ReportSetting, key="report.previous", type=_previous_run,
                     metavar="RUN_DIR", help="a previous run folder: match the new topics to its topics and carry "
                                             "its topic names over (report.previous)")
    _column_flags(run)

    validate = sub.add_parser("validate", help="check a corpus without fitting anything")
    validate.add_argument("corpus", help="corpus file or folder")
    validate.add_argument("--json", action="store_true", help="print the report as JSON")
    _column_flags(validate)

    rep = sub.add_parser("report", help="rebuild charts, report.html and summary.xlsx of a finished run")
    rep.add_argument("run_dir", help="a run folder written by textmine run")
    rep.add_argument("--labels", metavar="FILE",
                     help="topic names, a TOML file ([lda] then 3 = \"성과 관리\"): the report, charts and "
                          "summary.xlsx use them, and the file replaces the run folder's labels.toml")

    terms = sub.add_parser("terms", help="suggest domain terms for the profile's user dictionary")
    terms.add_argument("corpus", help="corpus file or folder")
    terms.add_argument("--min-count", type=int, default=10, help="least occurrences of a candidate")
    terms.add_argument("--min-score", type=float, default=0.25, help="least Kiwi word score (0-1)")
    terms.add_argument("--top", type=int, default=50, help="how many candidates to list")
    terms.add_argument("--toml", action="store_true", help="print a user_words list to paste into profile.toml")
    terms.add_argument("--profile", help="profile TOML to extend (default: the corpus's profile.toml)")
    _column_flags(terms)

    cache = sub.add_parser("cache", help="size of the caches (tokens, embeddings, models), and pruning them; "
                                         "'mark' marks a cache folder written before textmine marked its caches")
    cache.add_argument("action", choices=["info", "prune", "mark"])
    cache.add_argument("--cache-dir", default=None, help="cache folder (default: run.cache_dir, ~/.cache/textmine)")
    cache.add_argument("--older-than", type=float, metavar="DAYS", help="prune: remove entries unused for DAYS days")
    cache.add_argument("--max-size", type=float, metavar="GB", help="prune: then remove the least recently used "
                                                                     "entries until the cache fits in GB")
    cache.add_argument("--json", action="store_true", help="print as JSON")

    synth = sub.add_parser("synth", help="write a synthetic corpus with truth.json")
    synth.add_argument("out_dir")
    synth.add_argument("--seed", type=int, default=20260)
    synth.add_argument("--docs-per-year", type=int, default=None, help="mean opinions per year")
    synth.add_argument("--years", default="2015-2024", help="first-last year, e.g. 2013-2024")
    synth.add_argument("--phases", type=int, default=3, help="number of planted phases (1-5)")
    synth.add_argument("--format", choices=["csv", "parquet"], default="csv",
                       help="one file per year: csv (default, small corpora) or parquet (large ones: "
                            "written year by year, a million opinions in minutes)")

    ui = sub.add_parser("ui", help="the analysts' workspace: every run folder in the browser",
                        description="Serve the run folders under RUNS_DIR as web pages (runs, phases, topics, "
                                    "opinions, comparing two runs, naming topics). Binds 127.0.0.1 by default; "
                                    "any other --host needs a token (generated and printed once, or --token).")
    ui.add_argument("runs_dir", nargs="?", default="outputs", metavar="RUNS_DIR",
                    help="folder of run folders (default: outputs)")
    ui.add_argument("--host", default=DEFAULT_HOST,
                    help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    ui.add_argument("--read-only", action="store_true", help="no renaming of topics from the browser")
    ui.add_argument("--token", help="the token a browser must bring when --host is not a loopback address "
                                    "(default: one generated and printed once)")

    serve = sub.add_parser("serve", help="serve the flow as a Prefect deployment on a schedule, watching the corpus",
                           description="Register the flow with the Prefect server in PREFECT_API_URL as the "
                                       "deployment textmine/NAME on a cron schedule, start a run when a yearly "
                                       "file is added to or changed in CORPUS_DIR, and serve runs (scheduled, "
                                       "from the UI, or `prefect deployment run textmine/NAME`) until Ctrl-C "
                                       "or SIGTERM.")
    serve.add_argument("corpus", metavar="CORPUS_DIR", help="corpus folder (watched for new or changed files)")
    serve.add_argument("--name", default="yearly", help="deployment name: textmine/NAME (default: yearly)")
    serve.add_argument("--cron", default="0 6 1 3 *",
                       help="cron schedule of runs (default: '0 6 1 3 *', 06:00 on 1 March)")
    serve.add_argument("--timezone", default="Asia/Seoul", help="time zone of the schedule (default: Asia/Seoul)")
    serve.add_argument("--no-watch", action="store_true", help="do not start runs when corpus files change")
    serve.add_argument("--ui-port", type=int, default=DEFAULT_PORT,
                       help="port of the analysts' workspace (textmine ui) over the run folders, on 127.0.0.1 "
                            f"(default: {DEFAULT_PORT}); each run's Prefect link points to its page there")
    serve.add_argument("--no-ui", action="store_true", help="do not start the workspace")
    for action in run._actions:  # the run flags, exactly as `textmine run` takes them
        if action.option_strings and action.dest != "help":
            serve._add_action(action)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in args.set:
        if "=" not in item:
            raise TextmineError(f"--set {item!r} is not SECTION.KEY=VALUE", fix="e.g. --set lda.num_topics=10")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    if args.out:
        out["run.out_dir"] = args.out
    if args.models:
        out["run.models"] = args.models
    if args.phases:
        out["phases.n_phases"] = args.phases
    if args.seed is not None:
        out["run.seed"] = str(args.seed)
    if getattr(args, "time_unit", None):
        out["align.time_unit"] = args.time_unit
    if getattr(args, "reselect", False):
        out["run.reselect"] = "true"
    if getattr(args, "no_reuse", False):
        out["run.reuse_finished"] = "false"
    return out | _column_overrides(args)


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, _overrides(args))
    corpus = args.corpus or str(BUNDLED_CORPUS)
    # A rerun with nothing changed copies the finished run before Prefect or any model library loads
    # (textmine.outputs.rerun): 0.8 s instead of 10.9 s on the bundled corpus.
    if Path(corpus).exists() and (reused := reuse_finished(corpus, config, started_by="cli")[1]) is not None:
        print(f"textmine: nothing changed since {reused_from(reused)}: its files are copied (--no-reuse runs "
              f"the flow again)", file=sys.stderr)
        print(reused)
        return 0
    from flows.engine import start_ephemeral_server
    from flows.pipeline import preflight, run_pipeline  # Prefect loads only for commands that need it

    checked = preflight(corpus, config)  # everything that can be checked before the engine starts
    for skipped in checked.skipped_files():
        print(f"textmine: warning: not read: {escape(skipped['path'])} ({escape(skipped['reason'])})",
              file=sys.stderr)
    quiet_user_error_tracebacks()
    start_ephemeral_server()
    folder = run_pipeline(corpus, config)
    print(folder)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(None, _column_overrides(args))
    corpus = load_corpus(args.corpus, config.corpus)
    table = yearly_quality_table(corpus)
    if args.json:
        print(json.dumps({"files": corpus.files_report(), "ignored": corpus.ignored, "counts": corpus.counts(),
                          "per_year": table.reset_index().astype({"year": str}).to_dict(orient="records")},
                         ensure_ascii=False, indent=2))
        return 0
    delimiters = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
    print(f"corpus: {escape(args.corpus)}")
    for f in corpus.files_report():
        f = {**f, "path": escape(f["path"]), "reason": escape(f.get("reason") or "")}
        if f["status"] != "read":
            print(f"  {f['path']}: NOT READ — {f['reason']}")
            continue
        how = f"{f['format']}" + (f" (delimiter {delimiters.get(f['delimiter'], repr(f['delimiter']))})"
                                  if f["delimiter"] else "")
        print(f"  {f['path']}: {how}, encoding {f['encoding'] or 'n/a (binary format)'}, "
              f"{f['rows']} rows, {f['opinions']} opinions")
        for sheet, m in f["tables"].items():
            where = f"    [{escape(sheet)}] " if sheet != "-" else "    "
            print(f"{where}text='{m['text']}', year from {m['year_from']}"
                  f"{'' if not (m['year'] or m['date']) else ' ' + repr(m['year'] or m['date'])}"
                  f", id={m['id']!r}; metadata: {', '.join(m['metadata']) or '-'}")
        for note in f["notes"]:
            print(f"    note: {escape(note)}")
    if corpus.ignored:
        print("  ignored (not opinions): " + ", ".join(f"{escape(i['path'])} ({escape(i['reason'])})"
                                                     for i in corpus.ignored))
    print()
    print(table.to_string())
    c = corpus.counts()
    print(f"\n{c['modelled']} opinions would be modelled "
          f"({c['empty_dropped']} empty and {c['duplicates_dropped']} duplicates dropped; "
          f"{c['too_short']} too short and {c['non_korean']} non-Korean kept but flagged).")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import pandas as pd

    from textmine.report.report import build_outputs

    run = Path(args.run_dir)
    missing = [n for n in ("manifest.json", "phases.json", "topics.csv", "trajectories.csv") if not (run / n).is_file()]
    if missing:
        raise TextmineError(f"not a finished run folder: {', '.join(missing)} missing", file=run,
                            fix="pass a folder printed by 'textmine run'")
    if args.labels:
        names = labels_mod.load_labels(args.labels)  # a bad file stops here, before anything is changed
        try:
            unknown = labels_mod.unknown_topics(names, pd.read_csv(run / "topics.csv", encoding="utf-8-sig"))
        except (ValueError, KeyError, UnicodeDecodeError):  # a damaged topics.csv: build_outputs says which
            unknown = []
        if unknown:
            print(f"textmine: warning: {args.labels} names topics this run does not have (ignored): "
                  + ", ".join(unknown), file=sys.stderr)
    # the labels file is copied into the run folder by build_outputs, once the report built with it
    for name in build_outputs(run, labels_file=args.labels):
        print(run / name)
    return 0


def cmd_terms(args: argparse.Namespace) -> int:
    config = load_config(None, _column_overrides(args))
    corpus = load_corpus(args.corpus, config.corpus)
    profile = load_profile(args.corpus, args.profile)
    found = discover_terms(corpus.modelling_docs()["text"].tolist(), profile, config.kiwi_workers(),
                           min_count=args.min_count, min_score=args.min_score, top=args.top)
    if args.toml:
        words = ", ".join(f'"{t["word"]}"' for t in found if t["kiwi_splits_it"])
        print(f"# candidates Kiwi splits today; keep the real terms\nuser_words = [{words}]")
        return 0
    if not found:
        print("no candidate terms found; try a lower --min-count or --min-score")
        return 0
    print(f"{'term':<16}{'count':>7}{'score':>7}  Kiwi today")
    for t in found:
        print(f"{t['word']:<16}{t['frequency']:>7}{t['score']:>7.2f}  {t['kiwi_analysis']}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    import time

    try:
        first, last = (int(x) for x in args.years.split("-"))
    except ValueError:
        raise TextmineError(f"--years {args.years!r} is not FIRST-LAST", fix="e.g. --years 2015-2024") from None
    if last < first:
        raise TextmineError(f"--years {args.years!r} ends before it starts", fix="e.g. --years 2015-2024")
    spec = SynthSpec(seed=args.seed, first_year=first, last_year=last, n_phases=args.phases,
                     docs_per_year=args.docs_per_year)
    written = []
    started = time.perf_counter()
    out = write_corpus(args.out_dir, spec, format=args.format, on_year=lambda year, n: written.append(n))
    print(out)  # stdout is the folder alone, for scripts
    print(f"synth: {sum(written):,} documents, {len(written)} years ({first}-{last}), {args.format}, "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    config = load_config(args.config, overrides)  # a bad config stops here, before anything starts
    # Runs started from the UI write under --out wherever the server or runner was started.
    out_dir = Path(config.run.out_dir).expanduser().resolve()
    config = load_config(args.config, overrides | {"run.out_dir": str(out_dir)})
    return serve_deployment(args.corpus, config, name=args.name, cron=args.cron, timezone=args.timezone,
                            watch=not args.no_watch, ui_port=None if args.no_ui else args.ui_port)


def cmd_ui(args: argparse.Namespace) -> int:
    p = plan(args.runs_dir, args.host, args.port, args.read_only, args.token)
    server = UIServer(p)
    print(announce(p), flush=True)
    server.run()
    return 0


def cmd_cache(args: argparse.Namespace) -> int:
    cache_dir = args.cache_dir or load_config(None, {}).run.cache_dir
    if args.action == "mark":
        print(f"marked {escape(mark_existing(cache_dir))} as a textmine cache")
        return 0
    if args.action == "prune":
        if args.older_than is None and args.max_size is None:
            raise TextmineError("prune needs --older-than DAYS or --max-size GB", fix="e.g. textmine cache prune --older-than 30")
        if args.max_size is not None and not (math.isfinite(args.max_size) and args.max_size >= 0):
            raise TextmineError(f"--max-size must be a finite number of GB of at least 0, not {args.max_size}",
                                fix="e.g. textmine cache prune --max-size 20")
        result = prune(cache_dir, args.older_than, None if args.max_size is None else args.max_size * 1e9)
        for path in result["skipped"]:
            print(f"textmine: warning: left alone: {path}", file=sys.stderr)
        print(json.dumps(result) if args.json else
              f"removed {result['removed']} entries ({result['bytes_freed'] / 1e6:.1f} MB); "
              f"{result['bytes_left'] / 1e6:.1f} MB left in {escape(cache_dir)}")
        return 0
    info = cache_info(cache_dir)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"cache: {info['path']}")
    for kind, k in info["kinds"].items():
        print(f"  {kind:<11}{k['entries']:>7} entries {k['bytes'] / 1e6:>10.1f} MB")
    print(f"  {'total':<18}{'':>7} {info['bytes'] / 1e6:>10.1f} MB")
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "report": cmd_report, "terms": cmd_terms,
            "synth": cmd_synth, "serve": cmd_serve, "cache": cmd_cache, "ui": cmd_ui}


EXIT_INTERRUPTED = 130
# Errors of the machine rather than of the input, said in one line like input errors.


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler or `kill`) stops a run the way Ctrl-C does: partial output removed."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def exit_without_teardown(code: int) -> typing.NoReturn:
    """End the process as the interpreter does (other threads joined, then the exit handlers: Prefect's,
    logging's), but without its teardown of every module and object, which took ~1.5 s after a run
    (bundled corpus, a new year's run: the last exit handler done at 15.25 s, the process gone at 16.83 s;
    session 12).  Only for the console command: a caller of :func:`main` keeps its interpreter."""
    import atexit
    import logging
    import os

    shutdown = getattr(threading, "_shutdown", None)  # CPython's own first step of an exit
    if shutdown is None or not hasattr(atexit, "_run_exitfuncs"):
        sys.exit(code)
    shutdown()
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if argv is None and sys.argv[1:2] == ["run"]:  # the console command (or python -m flows) running a flow
        exit_without_teardown(code)
    return code


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_sigterm()
    try:
        return COMMANDS[args.command](args)
    except TextmineError as exc:
        print(f"textmine: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("textmine: interrupted; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno not in DISK_ERRORS:
            raise
        where = f"{escape(exc.filename)}: " if exc.filename else ""
        print(f"textmine: error: {where}{DISK_ERRORS[exc.errno]} ({exc.strerror}); nothing was written\n"
              f"  what to do: free space or choose another --out / run.cache_dir", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
