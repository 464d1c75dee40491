"""MLflow: one run per training, a registered model version per run, `@champion` alias.

Models are logged as MLflow "models from code" (orchestration/mlflow_model.py) whose artifacts
are the forecaster's safetensors weights and JSON config, so nothing is ever pickled.
"""

import contextlib
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

if TYPE_CHECKING:
    from orchestration.lineage import ModelVersionHistory, VersionLineage

MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
CHAMPION = "champion"
# What loading and running any saved forecaster needs. Stated, not inferred: MLflow's inference
# loads the model in a subprocess (about 4 s a registration) and records only the modules that
# one family happened to import (no torch for a LightGBM champion, say). The `ml` package itself
# comes from the warecast checkout that loads the model, as the inferred list assumed too.
MODEL_DISTRIBUTIONS = (
    "mlflow",
    "numpy",
    "pandas",
    "pyarrow",
    "pydantic",
    "pyyaml",
    "safetensors",
    "scipy",
    "matplotlib",
    "torch",
    "lightning",
    "pytorch-forecasting",
    "statsforecast",
    "lightgbm",
)


def model_requirements() -> list[str]:
    """MODEL_DISTRIBUTIONS pinned at the versions this process runs (what trained the model)."""
    return [f"{name}=={metadata.version(name)}" for name in MODEL_DISTRIBUTIONS]


# The experiment says it is model development, not GenAI. MLflow 3.17's UI still opens an
# experiment on its GenAI overview (checked in Chromium), so warecast links to runs_page.
NOTE = "mlflow.note.content"  # a run's or an experiment's description in MLflow's UI
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    NOTE: "warecast: one run per backtest (a child run per model compared, ranked by the "
    "pipeline's metric) and one run per training (a registered version of the pipeline's "
    "model; `@champion` is the one that forecasts).",
}


def runs_page(ui_url: str, experiment_id: str) -> str:
    """The MLflow UI's runs table of the experiment (where the models are compared)."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs"


def artifact_url(ui_url: str, run_id: str, artifact_file: str) -> str:
    """The MLflow UI's URL of one artefact of a run (the file itself, e.g. a PNG)."""
    query = urllib.parse.urlencode({"path": artifact_file, "run_uuid": run_id})
    return f"{ui_url.rstrip('/')}/get-artifact?{query}"


MODEL_DESCRIPTION = (
    "A warecast pipeline's forecaster: every series' p10/p50/p90 for the horizon after the "
    "newest period. Input: the feature mart's rows of the series (series_id, ts, value and "
    "the feature columns); output: one row per series and horizon step. The version under "
    "the `@champion` alias is the one that forecasts; each version's description says which "
    "family it is, what data it was trained on and how it scored."
)
# The forecast frame every forecaster returns (ml.models.base.FORECAST_COLUMNS).
FORECAST_OUTPUT = Schema(
    [
        ColSpec("string", "series_id"),
        ColSpec("datetime", "forecast_origin"),
        ColSpec("datetime", "target_ts"),
        ColSpec("long", "horizon_step"),
        ColSpec("double", "p10"),
        ColSpec("double", "p50"),
        ColSpec("double", "p90"),
        ColSpec("string", "method"),
    ]
)
REQUIRED_INPUT = ("series_id", "ts", "value")


def forecast_signature(history: pd.DataFrame) -> ModelSignature:
    """The training frame's columns in (series_id, ts and value required; the feature columns
    optional: families that read them say so when one is missing), the forecast frame out."""
    inputs = [
        ColSpec(_mlflow_type(dtype), name, required=name in REQUIRED_INPUT)
        for name, dtype in history.dtypes.items()
    ]
    return ModelSignature(inputs=Schema(inputs), outputs=FORECAST_OUTPUT)


def _mlflow_type(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "long"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    return "string"


def version_description(detail: str, choice, data, metrics: dict) -> str:
    """What the version is, what it was trained on, how it scored, and why its two scores
    differ: the run's and the registered version's description in MLflow."""
    backtest = f"{choice.metric} {choice.value:.4f}"
    held_out = metrics.get("val_mase")
    val = "" if held_out is None or not np.isfinite(held_out) else f" (val_mase {held_out:.4f})"
    return (
        f"{detail}, trained on {data.feature_table} at data version {data.data_version}.\n\n"
        f"Backtest: {backtest} over the backtest's cutoffs (run {choice.backtest_run_id}); "
        f"that score picked it: {choice.reason}\n\n"
        f"The val_* metrics{val} score this final model on each series' held-out last horizon, "
        "one origin only, so they differ from the backtest's, which averages several origins "
        "and refits at each."
    )


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    run_id: str


class MlflowTracking(dg.ConfigurableResource):
    tracking_uri: str
    artifact_root: str
    experiment_name: str = "warecast"

    def _activate(self) -> str:
        mlflow.set_tracking_uri(self.tracking_uri)
        experiment = mlflow.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            # An explicit artifact location: the SQLite store's default is ./mlruns of the cwd.
            return mlflow.create_experiment(
                self.experiment_name,
                artifact_location=Path(self.artifact_root).as_uri(),
                tags=EXPERIMENT_TAGS,
            )
        if any(experiment.tags.get(key) != value for key, value in EXPERIMENT_TAGS.items()):
            client = MlflowClient()
            for key, value in EXPERIMENT_TAGS.items():
                client.set_experiment_tag(experiment.experiment_id, key, value)
        return experiment.experiment_id

    @contextlib.contextmanager
    def run(
        self,
        name: str | None = None,
        tags: dict | None = None,
        description: str | None = None,
        nested: bool = False,
    ) -> Iterator[mlflow.ActiveRun]:
        """The one way warecast opens an MLflow run: in this resource's experiment (created on
        first use), active inside the block so mlflow.log_* calls land in it. `description` is
        what MLflow's UI shows as the run's description; `nested` opens a child of the active
        run (a backtest's run per model)."""
        tags = {**(tags or {}), **({NOTE: description} if description else {})}
        with mlflow.start_run(
            experiment_id=self._activate(), run_name=name, tags=tags, nested=nested
        ) as run:
            yield run

    def run_metrics(self, run_id: str) -> dict[str, float]:
        """The metrics a run logged (e.g. a version's validation MAE)."""
        self._activate()
        return MlflowClient().get_run(run_id).data.metrics

    def log_training(
        self,
        *,
        forecaster,
        model_name: str,
        params: dict,
        metrics: dict,
        tags: dict,
        figure,
        validation_forecasts: pd.DataFrame,
        history: pd.DataFrame,
        description: str,
    ) -> RegisteredModel:
        """Log the run and register a new version; the run and the version carry `tags`
        (the lineage: feature table, data version, dbt checksum, git commit, Dagster run id)
        and `description`; the signature is `history`'s columns in, the forecast frame out.
        Making it the champion is `promote`'s job."""
        with self.run(tags=tags, description=description) as run:
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.log_figure(figure, "forecast_vs_actual.png")
            mlflow.log_table(validation_forecasts, "validation_forecasts.json")
            with tempfile.TemporaryDirectory() as tmp:
                forecaster.save(Path(tmp) / "forecaster")
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(MODEL_CODE),
                    artifacts={"forecaster": str(Path(tmp) / "forecaster")},
                    pip_requirements=model_requirements(),
                    registered_model_name=model_name,
                    signature=forecast_signature(history),
                )
            version = str(info.registered_model_version)
            family = tags.get("model_family", "model")
            mlflow.set_tag("mlflow.runName", f"train {family} v{version}")
            client = MlflowClient()
            client.update_registered_model(model_name, description=MODEL_DESCRIPTION)
            client.update_model_version(model_name, version, description=description)
            for key, value in {**tags, "mlflow_run_id": run.info.run_id}.items():
                client.set_model_version_tag(model_name, version, key, str(value))
            return RegisteredModel(model_name, version, run.info.run_id)

    def promote(
        self,
        name: str,
        version: str,
        reason: str,
        history: "ModelVersionHistory",
        event: str = "promoted",
    ) -> RegisteredModel:
        """The one place `@champion` moves: set the alias, then append the event to history.

        event: 'promoted' (a new champion) or 'rolled_back' (an older version made champion).
        """
        self._activate()
        client = MlflowClient()
        try:
            mv = client.get_model_version(name, str(version))
        except mlflow.exceptions.MlflowException as error:
            known = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
            raise ValueError(
                f"Model {name!r} has no version {version!r} in {self.tracking_uri}; "
                f"known versions: {known or 'none'}."
            ) from error
        client.set_registered_model_alias(name, CHAMPION, str(mv.version))
        history.record(name, str(mv.version), event, reason, self.version_lineage(name, version))
        return RegisteredModel(name, str(mv.version), mv.run_id)

    def version_lineage(self, name: str, version: str) -> "VersionLineage":
        """The lineage tags the version was registered with."""
        from orchestration.lineage import VersionLineage

        self._activate()
        mv = MlflowClient().get_model_version(name, str(version))
        return VersionLineage.from_tags({"mlflow_run_id": mv.run_id, **mv.tags})

    def champion(self, model_name: str) -> RegisteredModel | None:
        """The version `@champion` points at, or None when there is none yet."""
        self._activate()
        try:
            mv = MlflowClient().get_model_version_by_alias(model_name, CHAMPION)
        except mlflow.exceptions.MlflowException:
            return None
        return RegisteredModel(model_name, str(mv.version), mv.run_id)

    def champion_trained_like(
        self, model_name: str, identity: dict[str, str]
    ) -> tuple[RegisteredModel, dict[str, str], dict[str, float]] | None:
        """(champion, its version tags, its run's metrics) when the `@champion` version's tags
        equal every key of `identity` (data version, family, config: orchestration/assets/ml.py),
        else None: no champion, or one trained on other data or with another config."""
        self._activate()
        client = MlflowClient()
        try:
            mv = client.get_model_version_by_alias(model_name, CHAMPION)
        except mlflow.exceptions.MlflowException:
            return None
        if any(mv.tags.get(key) != str(value) for key, value in identity.items()):
            return None
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        return RegisteredModel(model_name, str(mv.version), mv.run_id), dict(mv.tags), metrics

    def load_champion(self, model_name: str):
        """(RegisteredModel, forecaster) for the version the `@champion` alias points at."""
        self._activate()
        client = MlflowClient()
        try:
            mv = client.get_model_version_by_alias(model_name, CHAMPION)
        except mlflow.exceptions.MlflowException as error:
            raise RuntimeError(
                f"No '{CHAMPION}' version of registered model {model_name!r} "
                f"in {self.tracking_uri}: "
                "materialize ml/trained_model first."
            ) from error
        pyfunc = mlflow.pyfunc.load_model(f"models:/{model_name}@{CHAMPION}")
        forecaster = pyfunc.unwrap_python_model().forecaster
        return RegisteredModel(model_name, str(mv.version), mv.run_id), forecaster
