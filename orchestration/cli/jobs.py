"""`warecast run`, `load` and `rollback`: Dagster runs, with their event log in the command's log.

The console shows one line per finished stage, warnings, and an error event only by its first
line; the whole event log, traces included, goes to the command's log file.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import time

from orchestration.cli.errors import (
    CommandLog,
    UserError,
    disk_full,
    disk_full_text,
    is_user_error,
    report_bug,
    without_class,
)

# The console gets a line per finished stage, warnings and errors (_StagesAndProblems); the
# full DEBUG event log goes to the command's log file and stays in the Dagster UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}


def run_config(args: argparse.Namespace) -> dict:
    raw = {}
    if args.dataset:
        raw["dataset"] = args.dataset
    if args.max_series:
        raw["max_series"] = args.max_series
    train = {"progress_bar": not args.no_progress}
    if args.model_preset:
        train["model_preset"] = args.model_preset
    if args.max_epochs:
        train["max_epochs"] = args.max_epochs
    backtest = {}
    if args.models:
        backtest["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.cutoffs:
        backtest["cutoffs"] = args.cutoffs
    ops = {
        "raw__observations": {"config": raw},
        "ml__backtests": {"config": backtest},
        "ml__trained_model": {"config": train},
    }
    return {"ops": ops, **QUIET_LOGS}


def load_config(args: argparse.Namespace) -> dict:
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    config = {
        "dataset": "file",
        "path": os.path.abspath(args.file),
        "series_id_column": args.series_id,
        "timestamp_column": args.timestamp,
        "value_column": args.value,
        "covariates": covariates,
        "hierarchy": [c.strip() for c in getattr(args, "hierarchy", "").split(",") if c.strip()],
        "delimiter": args.delimiter,
        "encoding": args.encoding,
        "mode": "append" if getattr(args, "append", False) else "replace",
        "timestamp_unit": getattr(args, "timestamp_unit", None),
        "date_format": getattr(args, "date_format", None),
    }
    return {"ops": {"raw__observations": {"config": config}}, **QUIET_LOGS}


def _event_type(record: logging.LogRecord) -> str | None:
    event = (getattr(record, "dagster_meta", None) or {}).get("dagster_event")
    return getattr(event, "event_type_value", None)


STAGE_WIDTH = 60  # the name column of the "done" lines


class _StageNames(logging.Filter):
    """A name for a person per Dagster step, from what the step materialized or checked.

    Dagster splits the one dbt multi-asset into several steps (warecast_dbt_models_2, ...) where
    Python assets sit between its models: such a step is named by the dbt groups (folders) of the
    models it built, e.g. `dbt: forecasts, published (5 models)`; a Python asset's
    step by its asset key (`ml/forecasts`), a check's step by what it checked.
    """

    def __init__(self, job=None) -> None:
        super().__init__()
        self.groups: dict = {}
        self.dbt_keys: set = set()
        self.dbt_ops: set[str] = set()
        self.seeds: set = set()
        if job is not None:
            graph = job.asset_layer.asset_graph
            for node in graph.asset_nodes:
                self.groups[node.key] = node.group_name
                if "dbt" in (node.kinds or ()):
                    self.dbt_keys.add(node.key)
                    self.dbt_ops.add(node.assets_def.op.name)
                if node.metadata.get("dagster-dbt/materialization_type") == "seed":
                    self.seeds.add(node.key)
        self.built: dict[str, list] = {}
        self.checked: dict[str, list] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Notes what each step materialized or checked; lets every record through."""
        kind = _event_type(record)
        if kind not in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION"):
            return True
        event = record.dagster_meta["dagster_event"]
        step = record.dagster_meta.get("step_key") or event.step_key or ""
        if kind == "ASSET_MATERIALIZATION":
            self.built.setdefault(step, []).append(event.asset_key)
        else:
            self.checked.setdefault(step, []).append(event.event_specific_data)
        return True

    def stage_name(self, step_key: str) -> str:
        keys = list(dict.fromkeys(self.built.get(step_key, [])))
        if keys and all(key in self.dbt_keys for key in keys):
            return self._dbt_name(keys)
        if keys:
            return _fit(", ".join(key.to_user_string() for key in keys))
        checks = self.checked.get(step_key, [])
        if checks:
            assets = ", ".join(dict.fromkeys(c.asset_key.to_user_string() for c in checks))
            names = ", ".join(dict.fromkeys(c.check_name for c in checks))
            for text in (f"check {names} on {assets}", f"check {names}"):
                if len(text) <= STAGE_WIDTH:
                    return text
            return _fit(f"check on {assets}")
        if re.sub(r"_\d+$", "", step_key) in self.dbt_ops:
            return "dbt: no model built"
        return _fit(step_key.replace("__", "/"))

    def _dbt_name(self, keys: list) -> str:
        layers = sorted({self._layer(key) for key in keys}, key=_layer_order)
        if len(layers) > 1:  # the staging views are plumbing for the marts the step built
            layers = [layer for layer in layers if layer != "staging"]
        seeds = sum(key in self.seeds for key in keys)
        counts = [_count(len(keys) - seeds, "model"), _count(seeds, "seed")]
        count = f"({', '.join(c for c in counts if c)})"
        shown = len(layers)
        text = f"dbt: {', '.join(layers)} {count}"
        while len(text) > STAGE_WIDTH and shown > 1:  # as many folders as fit, then "+N more"
            shown -= 1
            text = f"dbt: {', '.join(layers[:shown])} +{len(layers) - shown} more {count}"
        return _fit(text)

    def _layer(self, key) -> str:
        # The group is the model's folder path: a mart's last folder names it (marts_forecasts:
        # forecasts), staging's first (staging_ml: staging); a seed has no folder.
        if key in self.seeds:
            return "seeds"
        group = self.groups.get(key)
        if not group or group in ("dbt", "default"):
            return key.path[0]
        layer, _, folder = group.partition("_")
        return folder if layer == "marts" and folder else layer


def _layer_order(layer: str) -> tuple[int, str]:
    # Upstream first (seeds, staging, intermediate), then the marts' folders by name: the same
    # step is always named the same way, whatever order dbt's threads finished in.
    upstream = ("seeds", "staging", "intermediate")
    return (upstream.index(layer) if layer in upstream else len(upstream), layer)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}" if n else ""


def _fit(text: str) -> str:
    return text if len(text) <= STAGE_WIDTH else text[: STAGE_WIDTH - 3] + "..."


# dagster-dbt runs the tests of every source upstream of a step's models, in each dbt step with a
# model downstream of the source (ml.backtest_points: through its staging view
# stg_ml__backtest_points, the evaluation and the monitoring marts); the step that does not own
# such a check gets a Dagster warning per test although the result is recorded. Kept in the log,
# not shown.
NOT_SELECTED_CHECK = "which is not selected. Letting it through."


class _StagesAndProblems(logging.Filter):
    """The console's share of the event log: a line per finished stage and warnings. Dagster's
    ERROR events (a step's failure, the run's, each 1-16 lines) stay in the log file: warecast
    says what failed and what to do once the run has ended (check_result)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and NOT_SELECTED_CHECK in record.getMessage():
            return False
        if record.levelno >= logging.ERROR:
            return False
        return record.levelno >= logging.WARNING or _event_type(record) == "STEP_SUCCESS"


class _FirstLineOfErrors(logging.Formatter):
    def __init__(self, fmt: str, names: _StageNames) -> None:
        super().__init__(fmt)
        self.names = names

    def format(self, record: logging.LogRecord) -> str:
        if _event_type(record) == "STEP_SUCCESS":
            meta = record.dagster_meta
            seconds = meta["dagster_event"].event_specific_data.duration_ms / 1000
            stage = self.names.stage_name(meta.get("step_key") or "")
            return f"  done  {stage:<{STAGE_WIDTH}} {seconds:7.1f} s"
        text = super().format(record)
        return text.splitlines()[0] if record.levelno >= logging.ERROR and text else text


def _logger_def(log: CommandLog, handlers: list[logging.Handler], job=None):
    import dagster as dg

    @dg.logger(
        config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
        description="Console at log_level (errors by their first line); everything to the log.",
    )
    def console(init_context):
        logger = logging.Logger("dagster", level=logging.DEBUG)
        names = _StageNames(job)
        logger.addFilter(names)  # sees every event, whatever the console's level
        shown = logging.StreamHandler(sys.stderr)
        shown.setLevel(init_context.logger_config["log_level"].upper())
        shown.addFilter(_StagesAndProblems())
        shown.setFormatter(_FirstLineOfErrors("%(asctime)s - %(levelname)s - %(message)s", names))
        log.write("Dagster event log:")
        kept = logging.StreamHandler(log.stream())
        kept.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(message)s"))
        for handler in (shown, kept):
            logger.addHandler(handler)
            handlers.append(handler)
        return logger

    return console


# Libraries that log what a person does not need at INFO (MLflow's database set-up, Lightning's
# device lines and tips, once per trained network): kept in the command's log.
CHATTY_LOGGERS = ("mlflow", "lightning.pytorch", "lightning.fabric")


@contextlib.contextmanager
def _library_output_to(log: CommandLog):
    """dbt's per-node lines (dagster-dbt echoes them to stdout), MLflow's INFO logs and its
    artefact progress bars go to the command's log file; the console keeps the stage lines,
    the training progress bar and warnings."""
    log.write("dbt and library output:")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    sink = log.stream()
    with contextlib.redirect_stdout(sink):
        kept = logging.StreamHandler(sink)
        saved = {}
        for name in CHATTY_LOGGERS:
            logger = logging.getLogger(name)
            saved[name] = (logger.handlers[:], logger.propagate)
            logger.handlers, logger.propagate = [kept], False
        try:
            yield
        finally:
            for name, (handlers, propagate) in saved.items():
                logger = logging.getLogger(name)
                logger.handlers, logger.propagate = handlers, propagate


def execute(job, log: CommandLog, **kwargs):
    """The job's run in the code location the UI serves, with warecast's console/file logger;
    a bad config is a UserError."""
    import dagster as dg

    from orchestration.code_location import execute_in_code_location

    handlers: list[logging.Handler] = []
    job = job.with_logger_defs({"console": _logger_def(log, handlers, job)})
    try:
        with _library_output_to(log):
            return execute_in_code_location(job, raise_on_error=False, **kwargs)
    except dg.DagsterInvalidConfigError as error:
        raise UserError(str(error).strip().splitlines()[0]) from error
    finally:
        for handler in handlers:
            handler.close()


def check_result(command: str, result, log: CommandLog) -> int:
    """0 on success; a UserError for a step failed by bad input; else the bug's trace (1)."""
    if result.success:
        return 0
    failures = [e for e in result.all_events if e.is_step_failure and e.step_failure_data]
    for event in failures:
        error = event.step_failure_data.error
        full = disk_full_text(Exception(error.to_string()))
        if full:
            log.write(error.to_string())
            raise disk_full(command, full, after_run=True)
    for event in failures:
        error = event.step_failure_data.error
        cause = error.cause or error
        if is_user_error(cause.cls_name or "", without_class(cause.message)):
            log.write(error.to_string())
            raise UserError(
                f"step {event.step_key} failed: {without_class(cause.message)}", after_run=True
            )
    if failures:
        event = failures[0]
        return report_bug(command, event.step_key, event.step_failure_data.error.to_string(), log)
    return report_bug(command, "(run)", "The Dagster run failed without a step failure.", log)


def run_or_load(args: argparse.Namespace, log: CommandLog) -> int:
    import dagster as dg

    from orchestration.assets.raw import RAW_KEY
    from orchestration.definitions import defs
    from orchestration.summary import print_summary

    job = defs.resolve_job_def("forecast_pipeline")
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        if args.command == "load":
            result = execute(
                job, log, run_config=load_config(args), instance=instance, asset_selection=[RAW_KEY]
            )
        else:
            result = execute(job, log, run_config=run_config(args), instance=instance)
    code = check_result(args.command, result, log)
    if code == 0:
        print_summary(args.command, result, time.monotonic() - started)
    return code


def rollback_command(args: argparse.Namespace, log: CommandLog) -> int:
    import dagster as dg

    from orchestration.definitions import defs

    with dg.DagsterInstance.get() as instance:
        result = rollback(defs, instance, args.model, args.version, args.reason, log)
    code = check_result("rollback", result, log)
    if code == 0:
        _print_rollback(result, args.model, args.version)
    return code


def _print_rollback(result, model: str, version: str) -> None:
    written = [
        m.metadata for m in result.asset_materializations_for_node("ml__forecasts") if m.metadata
    ]
    rows = written[0]["dagster/row_count"].value if written else 0
    print(f"\nwarecast rollback: {model}@champion is now version {version}.")
    print(f"  forecasts rewritten with version {version}: {rows} rows")
    print("  history: ml.model_version_history, marts.dim_model_versions (docs/lineage.md)")


def rollback(defs, instance, model: str, version: str, reason: str = "", log=None):
    """Point @champion at `version`, record it in the history, rewrite the forecasts with it.

    Returns the Dagster result of re-running ml/forecasts and everything downstream of it.
    """
    import dagster as dg

    from orchestration.assets.ml import FORECASTS_KEY
    from orchestration.code_location import execute_in_code_location
    from orchestration.lineage import ModelVersionHistory
    from orchestration.settings import load_pipeline

    pipeline = load_pipeline()
    if model != pipeline.model_name:
        raise UserError(
            f"pipeline {pipeline.name!r} publishes model {pipeline.model_name!r}, not {model!r}.",
            f"pass --pipeline for the use case that serves {model!r}.",
        )
    warehouse = defs.resources["warehouse"]
    history = ModelVersionHistory(warehouse.client(), pipeline.forecast_schema)
    try:
        defs.resources["mlflow_tracking"].promote(
            model, version, reason or f"rollback to {version}", history, event="rolled_back"
        )
    except ValueError as error:
        raise UserError(str(error)) from error
    keys = dg.AssetSelection.keys(FORECASTS_KEY).downstream().resolve(defs.resolve_asset_graph())
    job = defs.resolve_job_def("forecast_pipeline")
    kwargs = {"run_config": QUIET_LOGS, "instance": instance, "asset_selection": list(keys)}
    if log is None:  # called from Python (tests, notebooks): Dagster's own console logger
        return execute_in_code_location(job, raise_on_error=False, **kwargs)
    return execute(job, log, **kwargs)
