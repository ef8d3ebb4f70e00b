"""The `funnel` command: run, generate, validate, config."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
import traceback
from pathlib import Path

from funnel.contract import FEEDS
from funnel.settings import FunnelError, FunnelHome

# The instance's configuration funnel writes into DAGSTER_HOME: SQLite by default, PostgreSQL with
# FUNNEL_POSTGRES_URL (funnel.instance; docs/deploy.md).
from funnel.instance import DAGSTER_YAML  # noqa: F401 (the SQLite default, as tests write it)


def _prepare_environment(home: FunnelHome):
    """FUNNEL_HOME for the definitions, a DAGSTER_HOME (default FUNNEL_HOME/.dagster) that exists, and
    a dagster.yaml in it that follows FUNNEL_POSTGRES_URL; with the URL set, the server is checked
    first (one line and exit 2 when it cannot be reached). Returns the PostgreSQL server or None."""
    from funnel.instance import prepare

    return prepare(home)


def _error_message(error) -> str:
    """The user-facing line of a Dagster step failure: the innermost error's message."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    message = error.message.strip().splitlines()[0] if error.message.strip() else error.cls_name
    prefix = f"{error.cls_name}: "
    return message[message.index(prefix) + len(prefix):] if prefix in message else message


PID_TAG, HOST_TAG = "funnel/pid", "funnel/host"
# workspace.yaml's code location: its name, and the module whose `defs` it loads.
LOCATION_NAME, DEFINITIONS_MODULE = "funnel", "funnel.definitions"


def _funnel_job():
    """funnel_job with its resources, as the code location defines it. Dagster loads the definitions
    from a code pointer, as the UI does: the CLI runs exactly what the UI runs, and no module of the
    package imports funnel.definitions (it only assembles)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    return ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs").get_reconstructable_job("funnel_job")


def _fail_abandoned_runs(instance) -> None:
    """A CLI run killed mid-way (SIGKILL, power loss) stays STARTED in the instance forever, and
    would hold the UI's run queue. Mark those whose process is gone as failed."""
    import dagster as dg

    started = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]))
    for run in started:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if pid is None or host != socket.gethostname() or _alive(int(pid)):
            continue
        instance.report_run_failed(run, message=f"process {pid} ended without finishing the run (killed?)")
        print(f"funnel: marked abandoned run {run.run_id} as failed (its process {pid} is gone)", file=sys.stderr)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe_check(evaluation) -> str:
    """`asset:check: what it found`, from the check's description and its numeric metadata."""
    found = []
    for key, value in (evaluation.metadata or {}).items():
        raw = getattr(value, "value", value)
        if isinstance(raw, (int, float, str)) and not isinstance(raw, bool) and len(str(raw)) <= 80:
            found.append(f"{key}={raw}")
    name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
    description = (evaluation.description or "").strip()
    return name + (f": {description}" if description else "") + (f" ({', '.join(found)})" if found else "")


def cmd_run(args: argparse.Namespace, home: FunnelHome) -> int:
    from funnel.config import load_config

    from funnel.keys import load_secret

    load_config(home.config_file)  # a broken funnel.yaml fails here, before any run starts
    home.ensure()
    load_secret(home)  # and so does an unreadable pseudonymization secret (generated on first use)
    _prepare_environment(home)
    if args.full_refresh:
        _forget_working_database(home)
    selection = [s.strip() for s in args.select.split(",") if s.strip()] if args.select else None
    return _execute(home, debug=args.debug, selection=selection)


def cmd_rerun(args: argparse.Namespace, home: FunnelHome) -> int:
    home.ensure()
    _prepare_environment(home)
    return _execute(home, debug=args.debug, rerun_of=args.run_id, all_steps=args.all_steps)


def _forget_working_database(home: FunnelHome) -> None:
    """--full-refresh: the next run rebuilds everything from the landing files. The published
    database stays as it is until that run publishes."""
    from funnel.warehouse import exclusive_lock

    with exclusive_lock(home.working_db):
        for path in (home.working_db, home.working_db.with_name(home.working_db.name + ".wal")):
            path.unlink(missing_ok=True)
    print(f"full refresh: {home.working_db} removed; rebuilding from every landing file", file=sys.stderr)


def _execute(home: FunnelHome, *, debug: bool, selection=None, rerun_of=None, all_steps=False) -> int:
    import dagster as dg
    from funnel.instance import postgres_url

    # With the instance in PostgreSQL (a team's deployment) the run goes to the queue and the
    # daemon starts it when no other funnel run is in progress; by default it runs in this process.
    queued = postgres_url() is not None
    with dg.DagsterInstance.get() as instance:
        _fail_abandoned_runs(instance)
        options = None
        parent = None
        if rerun_of:
            parent = instance.get_run_by_id(rerun_of)
            if parent is None:
                raise FunnelError(f"no run {rerun_of} in the Dagster instance at {os.environ['DAGSTER_HOME']}")
            if all_steps:
                options = dg.ReexecutionOptions(parent_run_id=rerun_of, step_selection=list(parent.step_keys_to_execute or []) or None)
            elif parent.status != dg.DagsterRunStatus.FAILURE:
                raise FunnelError(f"run {rerun_of} is {parent.status.value.lower()}, not failed; use --all-steps to run it again")
            else:
                options = dg.ReexecutionOptions.from_failure(rerun_of, instance)
        # Dagster's own console log would repeat failures with tracebacks; ours are one line each.
        run_config = {"loggers": {"console": {"config": {"log_level": "DEBUG" if debug else "CRITICAL"}}}}
        keys = {dg.AssetKey.from_user_string(key) for key in selection} if selection else None
        if queued:
            run_id = _submit_to_queue(instance, run_config, keys, parent, options)
            run = _wait_for_queued_run(instance, run_id)
            success = run.is_success
            events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event is not None]
        else:
            tags = {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
            if options is not None:
                result = dg.execute_job(
                    _funnel_job(), instance=instance, run_config=run_config, tags=tags,
                    raise_on_error=False, reexecution_options=options,
                )
            else:
                result = _execute_new_run(instance, run_config, tags, keys)
            run_id, success, events = result.run_id, result.success, result.all_events
        for event in events:
            if event.event_type_value == dg.DagsterEventType.ASSET_CHECK_EVALUATION.value:
                evaluation = event.event_specific_data
                if not evaluation.passed:
                    level = "failed" if evaluation.severity == dg.AssetCheckSeverity.ERROR else "warning"
                    print(f"funnel: check {level}: {_describe_check(evaluation)}", file=sys.stderr)
        if not success:
            step_failures = [event for event in events if event.is_step_failure]
            for event in step_failures:
                message = _error_message(event.step_failure_data.error)
                print(f"funnel: step {event.step_key} failed: {message}", file=sys.stderr)
            if queued and not step_failures:  # failed or canceled before any step: say why
                print(f"funnel: {_run_end_message(run, events)}", file=sys.stderr)
            print(f"funnel: run {run_id} failed; the published database was left as it was. "
                  f"Fix the cause, then `funnel rerun {run_id}` re-executes from the failure.", file=sys.stderr)
            return 1
    if queued:
        from funnel.warehouse import exclusive_lock

        # The daemon may start the next queued run at once: read between its steps, not beside them.
        with exclusive_lock(home.working_db):
            _print_run_summary(home, run_id)
    else:
        _print_run_summary(home, run_id)
    return 0


def _funnel_run_origin():
    """Where a funnel run comes from, as the daemon and the UI look it up: the `funnel` code location
    of workspace.yaml. Runs that carry it are tagged with the location, which the run queue limits."""
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    return RemoteJobOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(LOCATION_NAME), "__repository__"), "funnel_job"
    )


def _create_new_run(instance, run_config: dict, tags: dict, asset_selection):
    job = _funnel_job()
    if asset_selection:
        job = job.get_subset(asset_selection=asset_selection)
    run = instance.create_run_for_job(
        job.get_definition(), run_config=run_config, tags=tags, asset_selection=asset_selection,
        remote_job_origin=_funnel_run_origin(), job_code_origin=job.get_python_origin(),
    )
    return job, run


def _execute_new_run(instance, run_config: dict, tags: dict, asset_selection):
    """A new run of funnel_job, recorded as a run of the `funnel` code location, so the UI can
    re-execute it like the runs it launched itself (execute_job records no code location)."""
    from dagster._core.execution.api import execute_run

    job, run = _create_new_run(instance, run_config, tags, asset_selection)
    return execute_run(job, run, instance)


QUEUE_TIMEOUT_DEFAULT = 60.0
CLI_TRIGGER_TAGS = {"funnel/trigger": "cli"}


def _submit_to_queue(instance, run_config: dict, asset_selection, parent, options) -> str:
    """Create the run (a new one, or a re-execution of `parent`) and put it on the instance's run
    queue, where the daemon launches it like a run from the sensor, the schedule or the UI."""
    import dagster as dg

    if parent is None:
        _, run = _create_new_run(instance, run_config, dict(CLI_TRIGGER_TAGS), asset_selection)
    else:
        run = _create_reexecution_run(instance, run_config, parent, options)
    in_progress = _funnel_runs_in_progress(instance)
    instance.submit_run(run.run_id, workspace=None)  # the queued coordinator needs no workspace
    if instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE:
        raise FunnelError(f"run {run.run_id} could not be queued; see it in the UI")
    ahead = f"; {in_progress} funnel run(s) in progress" if in_progress else ""
    print(f"funnel: run {run.run_id} queued{ahead}; the Dagster daemon starts it when the warehouse is free",
          file=sys.stderr, flush=True)
    return run.run_id


def _create_reexecution_run(instance, run_config: dict, parent, options):
    """A re-execution of `parent`, built as execute_job builds one (from failure: only the failed and
    skipped steps, with what the succeeded steps produced), but left for the queue to start."""
    from dagster._core.execution.api import (
        ReexecuteFromFailureOption,
        _resolve_reexecute_step_selection,
        create_execution_plan,
    )
    from dagster._core.execution.plan.state import KnownExecutionState
    from dagster._core.storage.tags import PARENT_RUN_ID_TAG, RESUME_RETRY_TAG, ROOT_RUN_ID_TAG

    job = _funnel_job()
    root_run_id = parent.root_run_id or parent.run_id
    tags = {**CLI_TRIGGER_TAGS, PARENT_RUN_ID_TAG: parent.run_id, ROOT_RUN_ID_TAG: root_run_id}
    plan = None  # --all-steps of a whole run: every step, as a new run would
    if isinstance(options, ReexecuteFromFailureOption):
        step_keys, known_state = KnownExecutionState.build_resume_retry_reexecution(instance, parent_run=parent)
        plan = create_execution_plan(job, run_config, step_keys_to_execute=step_keys, known_state=known_state,
                                     tags=parent.tags)
        tags[RESUME_RETRY_TAG] = "true"
    elif options.step_selection:
        plan = _resolve_reexecute_step_selection(instance, job, run_config, parent, options.step_selection)
    if parent.asset_selection:
        job = job.get_subset(asset_selection=parent.asset_selection)
    return instance.create_run_for_job(
        job.get_definition(), execution_plan=plan, run_config=run_config, tags=tags,
        asset_selection=parent.asset_selection, root_run_id=root_run_id, parent_run_id=parent.run_id,
        remote_job_origin=_funnel_run_origin(), job_code_origin=job.get_python_origin(),
    )


def _funnel_runs_in_progress(instance) -> int:
    import dagster as dg
    from funnel.instance import CODE_LOCATION_TAG

    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
    return instance.get_runs_count(dg.RunsFilter(statuses=statuses, tags={CODE_LOCATION_TAG: LOCATION_NAME}))


def _queue_timeout() -> float:
    raw = os.environ.get("FUNNEL_QUEUE_TIMEOUT", "").strip()
    try:
        timeout = float(raw) if raw else QUEUE_TIMEOUT_DEFAULT
    except ValueError:
        timeout = -1
    if timeout <= 0:
        raise FunnelError(f"FUNNEL_QUEUE_TIMEOUT: {raw!r} is not a number of seconds greater than 0")
    return timeout


def _wait_for_queued_run(instance, run_id: str, poll: float = 1.0):
    """Wait until the daemon has run `run_id` to its end, and return it. A run still queued after
    FUNNEL_QUEUE_TIMEOUT seconds (default 60) with no funnel run in progress means no daemon serves
    this instance: it is taken off the queue, with a message saying so. Runs ahead of it in the
    queue do not count against the timeout."""
    import dagster as dg

    timeout = _queue_timeout()
    idle_since = time.monotonic()
    started = False
    try:
        while True:
            run = instance.get_run_by_id(run_id)
            if run is None:
                raise FunnelError(f"run {run_id} was deleted from the Dagster instance while it was queued or running")
            if run.is_finished:
                return run
            if run.status == dg.DagsterRunStatus.QUEUED:
                if _funnel_runs_in_progress(instance):
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > timeout:
                    instance.run_coordinator.cancel_run(run_id)
                    raise FunnelError(
                        f"run {run_id} waited {timeout:.0f} s in the queue and no Dagster daemon started it "
                        f"({_daemon_heartbeat(instance)}); it was taken off the queue. Start `dagster-daemon run` "
                        "(or `funnel ui`) with the same FUNNEL_HOME and FUNNEL_POSTGRES_URL (docs/deploy.md), "
                        "or unset FUNNEL_POSTGRES_URL to run in this process")
            elif not started:
                started = True
                print(f"funnel: run {run_id} started", file=sys.stderr, flush=True)
            time.sleep(poll)
    except KeyboardInterrupt:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.status == dg.DagsterRunStatus.QUEUED:
            instance.run_coordinator.cancel_run(run_id)
            print(f"funnel: run {run_id} taken off the queue", file=sys.stderr)
        elif run is not None and not run.is_finished:
            print(f"funnel: run {run_id} goes on in the daemon; follow it in the UI", file=sys.stderr)
        raise


def _daemon_heartbeat(instance) -> str:
    beats = instance.get_daemon_heartbeats()
    if not beats:
        return "no daemon has ever reported to this instance"
    age = time.time() - max(beat.timestamp for beat in beats.values())
    return f"the last daemon heartbeat is {age:.0f} s old"


def _run_end_message(run, events) -> str:
    """Why a queued run ended without a failed step: canceled, or failed to launch (the daemon's
    message, e.g. a code location it could not load)."""
    import dagster as dg

    if run.status == dg.DagsterRunStatus.CANCELED:
        return f"run {run.run_id} was canceled"
    for event in reversed(events):
        if event.event_type_value in (dg.DagsterEventType.RUN_FAILURE.value, dg.DagsterEventType.ENGINE_EVENT.value) \
                and event.message and "fail" in event.message.lower():
            return f"run {run.run_id}: {event.message.strip().splitlines()[0]}"
    return f"run {run.run_id} ended {run.status.value.lower()} before any step ran"


def _print_run_summary(home: FunnelHome, run_id: str) -> None:
    from funnel.warehouse import connect

    conn = connect(home.working_db, read_only=True)
    try:
        files = conn.execute(
            "SELECT count(*) FILTER (status = 'ingested'), count(*) FILTER (status = 'rejected'),"
            " coalesce(sum(rows_accepted), 0), coalesce(sum(rows_duplicate), 0), coalesce(sum(rows_quarantined), 0)"
            " FROM landing_files WHERE batch_id = ?",
            [run_id],
        ).fetchone()
        records = conn.execute("SELECT count(*) FROM stage_outcome_records").fetchone()[0]
        interviews = conn.execute("SELECT count(*) FROM interview_records").fetchone()[0]
        responses = conn.execute("SELECT count(*) FROM demographic_records").fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM quarantined_rows").fetchone()[0]
    finally:
        conn.close()
    read, rejected, accepted, duplicates, new_quarantined = files
    print(f"run {run_id} succeeded")
    print(f"  this run:  {read} file(s) read, {rejected} rejected; {accepted:,} rows ingested, "
          f"{duplicates:,} duplicates dropped, {new_quarantined:,} quarantined")
    print(f"  in total:  {records:,} stage outcome records, {interviews:,} interview records, "
          f"{responses:,} self-identification responses, {quarantined:,} quarantined rows")
    print(f"  published: {home.published_db}  (open it read-only: duckdb -readonly {home.published_db})")
    report = home.root / "reports" / "funnel_report.html"
    if report.exists():
        print(f"  report:    {report}")


def cmd_generate(args: argparse.Namespace, home: FunnelHome) -> int:
    from funnel.config import load_config
    from funnel.generate import generate

    landing = Path(args.out).resolve() if args.out else home.landing
    existing = [p for p in landing.rglob("*") if p.is_file()] if landing.exists() else []
    if existing and args.if_empty:
        print(f"{landing} already has {len(existing)} file(s); left as it is")
        return 0
    if existing and not args.force:
        raise FunnelError(f"{landing} already has {len(existing)} file(s); use --force to add generated files anyway")
    config = load_config(home.config_file)
    if args.shape != "contract":
        from importlib import resources

        from funnel.sources.shapes import add_block_to_config, generate_shape

        summary, block = generate_shape(landing, args.shape, args.applications, args.seed, config, progress=_progress)
        print(f"generated {summary.applications:,} applications as {args.shape}'s tables under {landing / args.shape} "
              f"(and {summary.demographic_rows:,} demographic responses under {landing / 'demographics'})")
        default = resources.files("funnel").joinpath("default_config.yaml").read_text(encoding="utf-8")
        print(add_block_to_config(home.config_file, args.shape, block, default))
        return 0
    summary = generate(landing, args.applications, args.seed, config, progress=_progress)
    print(f"generated {summary.applications:,} applications: {summary.stage_events:,} stage events, "
          f"{summary.interview_rows:,} interviews and {summary.demographic_rows:,} demographic responses "
          f"in {len(summary.files)} files under {landing}")
    return 0


def cmd_sources_suggest(args: argparse.Namespace, home: FunnelHome) -> int:
    """A starting `sources:` block for the ATS tables under the landing folder."""
    from funnel.config import load_config
    from funnel.sources import ATS_NAMES
    from funnel.sources.suggest import suggest

    landing = Path(args.landing).resolve() if args.landing else home.landing
    text = suggest(landing, load_config(home.config_file))
    if not text:
        raise FunnelError(f"no ATS tables under {landing} (looked in {', '.join(f'{a}/' for a in ATS_NAMES)})")
    print(text, end="")
    return 0


def cmd_validate(args: argparse.Namespace, home: FunnelHome) -> int:
    from funnel.config import load_config
    from funnel.validate import validate_path

    from funnel.contract import FEEDS
    from funnel.sources import ATS_NAMES

    config = load_config(home.config_file)
    path = Path(args.path)
    ats_folder = path.is_dir() and path.name in ATS_NAMES and args.feed is None
    ats_folders = [path] if ats_folder else []
    if path.is_dir() and args.feed is None and not ats_folder:
        ats_folders = [path / ats for ats in ATS_NAMES if (path / ats).is_dir()]
    # the contract's feeds, unless the path is an ATS folder or a landing folder holding only ATS folders
    contract = not ats_folder and not (ats_folders and not any((path / feed).is_dir() for feed in FEEDS))
    found = 0
    if contract:
        problems = validate_path(path, config, feed=args.feed, progress=_progress)
        for line in problems.lines():
            print(line)
        print(problems.summary())
        found += problems.count
    for folder in ats_folders:
        found += _validate_ats(folder, config)
    return 1 if found else 0


def _validate_ats(folder: Path, config) -> int:
    """An ATS folder: what the sources: mapping lacks (with counts), and every other problem a run would
    quarantine or reject, without ingesting anything."""
    from funnel.sources.suggest import mapping_beside, unmapped

    ats = folder.name
    if ats not in config.sources:
        beside = mapping_beside(folder, config)
        if beside is not None:
            config = beside
            print(f"note: funnel.yaml has no sources.{ats}: using the block in {folder / 'sources.yaml'}")
    missing, problems = unmapped(ats, folder, config)
    for value, events in missing:
        print(f"{folder}: {value}: {events:,} event(s)")
    for file, line, reason, detail in problems:
        print(f"{file}:{line}: {reason}: {detail}" if line else f"{file}: {reason}: {detail}")
    print(f"checked {ats} tables under {folder}: "
          + ("no problems" if not (missing or problems) else
             f"{len(missing)} unmapped value(s), {len(problems)} other problem(s)"))
    return len(missing) + len(problems)


def cmd_config(args: argparse.Namespace, home: FunnelHome) -> int:
    from funnel.config import load_config

    config = load_config(home.config_file)
    print(f"# active configuration: {config.source}")
    print(config.to_yaml(), end="")
    return 0


def cmd_report(args: argparse.Namespace, home: FunnelHome) -> int:
    """Render the HTML funnel report from the published database (what `funnel run` also does)."""
    from funnel.report import render_report, report_dir

    if not home.published_db.exists():
        raise FunnelError(f"{home.published_db} does not exist yet: run `funnel run` first")
    paths = render_report(home.published_db, report_dir(home.root))
    print(f"report: {paths.html}" + ("  (no data yet)" if paths.empty else ""))
    print(f"chart:  {paths.png}")
    if args.open:
        import webbrowser

        if not webbrowser.open(paths.html.as_uri()):
            print(f"funnel: no browser found; open {paths.html.as_uri()}", file=sys.stderr)
    return 0


def cmd_ui(args: argparse.Namespace, home: FunnelHome) -> int:
    """`dagster dev` on this project, with the same FUNNEL_HOME and Dagster instance as `funnel run`
    (with FUNNEL_POSTGRES_URL: the PostgreSQL instance, checked before Dagster starts)."""
    home.ensure()
    postgres = _prepare_environment(home)
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(root / "workspace.yaml"), "-h", args.host, "-p", str(args.port)]
    instance = f", instance in {postgres.describe()}" if postgres else ""
    print(f"Dagster UI on http://{args.host}:{args.port} (FUNNEL_HOME={home.root}, DAGSTER_HOME={os.environ['DAGSTER_HOME']}{instance})")
    os.chdir(root)
    os.execv(sys.executable, command)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _add_common_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """--home and --debug, accepted before the command and after it (`funnel --home d run`, `funnel run
    --home d`). Below the command they default to SUPPRESS, so one not given there keeps the value given
    before the command instead of resetting it."""
    parser.add_argument("--home", default=None if top_level else argparse.SUPPRESS,
                        help="the folder funnel works in (default: $FUNNEL_HOME, else ./data)")
    parser.add_argument("--debug", action="store_true", default=False if top_level else argparse.SUPPRESS,
                        help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="funnel", description="Hiring-funnel analytics on Dagster and DuckDB.")
    _add_common_options(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, top_level=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=lambda **kw: argparse.ArgumentParser(parents=[common], **kw))

    run = sub.add_parser("run", help="ingest new landing files, rebuild the marts and publish (a Dagster run)")
    run.add_argument("--full-refresh", action="store_true", help="rebuild everything from the landing files")
    run.add_argument("--select", metavar="ASSETS", help="only these assets, comma-separated (e.g. stage_pass_rates)")
    run.set_defaults(func=cmd_run)

    rerun = sub.add_parser("rerun", help="re-execute a failed run from its failure (Dagster re-execution)")
    rerun.add_argument("run_id", help="the failed run's id (printed by `funnel run`, listed in the UI)")
    rerun.add_argument("--all-steps", action="store_true", help="re-execute every step, not only the failed ones")
    rerun.set_defaults(func=cmd_rerun)

    gen = sub.add_parser("generate", help="write a realistic synthetic dataset into a landing folder")
    gen.add_argument("--applications", type=int, default=2000, help="number of applications (default 2000)")
    gen.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same files")
    gen.add_argument("--out", help="landing folder to write into (default: FUNNEL_HOME/landing)")
    gen.add_argument("--if-empty", action="store_true", help="do nothing when the landing folder has files")
    gen.add_argument("--force", action="store_true", help="write even when the landing folder has files")
    gen.add_argument("--shape", choices=["contract", "greenhouse", "lever", "ashby"], default="contract",
                     help="write contract files (default), or the same funnel as an ATS connector syncs it, with "
                          "its sources: block added to funnel.yaml")
    gen.set_defaults(func=cmd_generate)

    src = sub.add_parser("sources", help="applicant tracking system tables under landing/<ats>/ (docs/sources.md)")
    src_sub = src.add_subparsers(dest="sources_command", required=True,
                                 parser_class=lambda **kw: argparse.ArgumentParser(parents=[common], **kw))
    sug = src_sub.add_parser("suggest", help="print a starting sources: block for the ATS tables found")
    sug.add_argument("--landing", help="the landing folder to look in (default: FUNNEL_HOME/landing)")
    sug.set_defaults(func=cmd_sources_suggest)

    val = sub.add_parser("validate", help="check landing files against the contract without ingesting")
    val.add_argument("path", help="a file, a feed folder, an ATS folder (landing/greenhouse), or a landing folder")
    val.add_argument("--feed", choices=list(FEEDS), help="the feed (default: from the path)")
    val.set_defaults(func=cmd_validate)

    rep = sub.add_parser("report", help="render the HTML funnel report from the published database")
    rep.add_argument("--open", action="store_true", help="open the report in a web browser")
    rep.set_defaults(func=cmd_report)

    ui = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this FUNNEL_HOME")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    cfg = sub.add_parser("config", help="print the active configuration as YAML")
    cfg.set_defaults(func=cmd_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("funnel").setLevel(logging.INFO)
    try:
        home = FunnelHome.from_env(args.home)
        return args.func(args, home)
    except FunnelError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"funnel: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("funnel: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything unexpected: still one line, the traceback on request
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (--debug shows the traceback)"
        print(f"funnel: unexpected {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
