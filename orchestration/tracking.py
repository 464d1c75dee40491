"""MLflow: one run per training, a registered model version per run, `@champion` alias.

Models are logged as MLflow "models from code" (orchestration/mlflow_model.py) whose artifacts
are the forecaster's safetensors weights and JSON config, so nothing is ever pickled.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
from mlflow import MlflowClient

MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
CHAMPION = "champion"


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
                self.experiment_name, artifact_location=Path(self.artifact_root).as_uri()
            )
        return experiment.experiment_id

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
    ) -> RegisteredModel:
        experiment_id = self._activate()
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
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
                    registered_model_name=model_name,
                )
            version = str(info.registered_model_version)
            client = MlflowClient()
            for key, value in tags.items():
                client.set_model_version_tag(model_name, version, key, str(value))
            # Issue-5 champion selection will decide this; until then the newest version serves.
            client.set_registered_model_alias(model_name, CHAMPION, version)
            return RegisteredModel(model_name, version, run.info.run_id)

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
