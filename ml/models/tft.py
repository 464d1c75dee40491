"""Temporal Fusion Transformer (pytorch-forecasting), global across series, p10/p50/p90.

Training holds out each series' last `horizon` steps: the target normalizer and scalers are
fitted on the rest only, and the held-out steps give the validation metrics. Forecasts then
condition on the full history. Series shorter than `min_encoder_length` get a labelled seasonal
naive forecast instead (ml/models/fallback.py).
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ml.config import QUANTILES, ForecastSpec, TFTArchitecture, TrainingConfig
from ml.errors import ArtifactError, InvalidInputError
from ml.evaluation import coverage, mae, mase, pinball
from ml.explain import tft_explanations
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import FORECAST_COLUMNS, FitReport, Forecaster, read_config
from ml.models.fallback import seasonal_naive_forecast
from ml.models.pf_dataset import dataset_class
from ml.models.report import unvalidated_report
from ml.serialization import decode, encode
from ml.windows import time_index

KNOWN_REALS = ["season_sin", "season_cos"]
# pytorch-forecasting's own choices that Lightning warns about on every fit.
KNOWN_HARMLESS_WARNINGS = (
    r"Attribute '(loss|logging_metrics)' is an instance of `nn.Module`",
    r"You defined a `validation_step` but have no `val_dataloader`",
    r".*LeafSpec.*",
    r"ReduceLROnPlateau conditioned on metric val_loss",
)
# Model hyper-parameters that are objects, rebuilt explicitly on load instead of serialised.
OBJECT_HPARAMS = {"loss", "logging_metrics", "output_transformer"}


@contextmanager
def _quiet():
    with warnings.catch_warnings():
        for message in KNOWN_HARMLESS_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


def _precision() -> str:
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"


class TFTForecaster(Forecaster):
    name = "tft"
    supports_quantiles = True
    supports_covariates = True
    supports_gpu = True
    preset_family = "tft"
    explainer = tft_explanations

    @classmethod
    def from_preset(cls, preset: dict, **overrides) -> TFTForecaster:
        """Overrides go to whichever config has that field; progress_bar to the forecaster."""
        progress_bar = overrides.pop("progress_bar", False)
        sections = {"architecture": TFTArchitecture, "training": TrainingConfig}
        values = {key: dict(preset.get(key, {})) for key in sections}
        for field, value in overrides.items():
            owner = [k for k, c in sections.items() if field in c.model_fields]
            if not owner:
                raise ValueError(f"Unknown TFT setting {field!r}; see ml/config.py.")
            values[owner[0]][field] = value
        return cls(
            TFTArchitecture(**values["architecture"]),
            TrainingConfig(**values["training"]),
            progress_bar=progress_bar,
        )

    def __init__(
        self,
        architecture: TFTArchitecture,
        training: TrainingConfig,
        progress_bar: bool = True,
    ):
        self.architecture = architecture
        self.training = training
        self.progress_bar = progress_bar
        self.spec: ForecastSpec | None = None
        self._model = None
        self._dataset_parameters: dict | None = None

    def min_history(self, spec: ForecastSpec, validate: bool = True) -> int:
        """The training part holds each series' last horizon out (whatever `validate`), and a
        training sample is min_encoder_length periods plus a whole horizon."""
        return self.architecture.min_encoder_length + 2 * spec.horizon

    # --- public API ----------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        clean = drop_leading_nulls(
            validate_training_frame(frame, spec.freq, self.training.feature_columns)
        )
        needed = self.min_history(spec, validate)
        if clean.groupby("series_id").size().max() < needed:
            raise InvalidInputError(
                f"{self.name} needs a series of {needed}+ periods (min_encoder_length "
                f"{self.architecture.min_encoder_length} + 2 x horizon {spec.horizon}); none is. "
                "Callers check min_history() first and fall back to seasonal naive."
            )
        return self._fit(clean, spec, validate)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self._model is None or self.spec is None:
            raise RuntimeError("Call fit() or load() before predict().")
        clean = validate_training_frame(frame, self.spec.freq, self.training.feature_columns)
        return self._predict(drop_leading_nulls(clean))

    # --- data --------------------------------------------------------------------------------
    def _model_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        columns = ["series_id", "ts", "value", *self.training.feature_columns]
        data = frame[columns].copy()
        data["time_idx"] = time_index(data["ts"], spec.freq)
        phase = 2 * np.pi * (data["time_idx"] % spec.season_length) / spec.season_length
        data["season_sin"], data["season_cos"] = np.sin(phase), np.cos(phase)
        return data

    def _new_dataset(self, train: pd.DataFrame):
        from pytorch_forecasting.data import EncoderNormalizer, NaNLabelEncoder

        arch = self.architecture
        options = dict(
            add_relative_time_idx=True,
            add_target_scales=True,
            add_encoder_length=False,
            min_encoder_length=arch.min_encoder_length,
        )
        options.update(self._dataset_overrides())
        return dataset_class()(
            train,
            time_idx="time_idx",
            target="value",
            group_ids=["series_id"],
            max_encoder_length=arch.max_encoder_length,
            min_prediction_length=self.spec.horizon,
            max_prediction_length=self.spec.horizon,
            static_categoricals=["series_id"],
            time_varying_known_reals=KNOWN_REALS,
            time_varying_unknown_reals=["value", *self.training.feature_columns],
            target_normalizer=EncoderNormalizer(transformation="softplus"),
            # add_nan: series unseen in training still get an embedding (the NaN slot).
            categorical_encoders={"series_id": NaNLabelEncoder(add_nan=True)},
            scalers={name: None for name in KNOWN_REALS},  # already in [-1, 1]
            **options,
        )

    # --- what a pytorch-forecasting network subclass changes (DeepAR, N-HiTS) ---------------
    def _dataset_overrides(self) -> dict:
        return {}

    @classmethod
    def _network_class(cls):
        from pytorch_forecasting import TemporalFusionTransformer

        return TemporalFusionTransformer

    @classmethod
    def _loss(cls):
        from pytorch_forecasting.metrics import QuantileLoss

        return QuantileLoss(list(QUANTILES))

    def _network_kwargs(self) -> dict:
        arch = self.architecture
        return dict(
            hidden_size=arch.hidden_size,
            attention_head_size=arch.attention_head_size,
            dropout=arch.dropout,
            hidden_continuous_size=arch.hidden_continuous_size,
        )

    def _dataset_for(self, data: pd.DataFrame):
        """Prediction windows (last `horizon` rows of each series) with the fitted transforms."""
        return dataset_class().from_parameters(
            self._dataset_parameters, data, predict=True, stop_randomization=True
        )

    # --- training ----------------------------------------------------------------------------
    def _fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        import lightning.pytorch as pl

        pl.seed_everything(self.training.seed, verbose=False)
        self.spec = spec
        data = self._model_frame(frame)
        last = data.groupby("series_id")["time_idx"].transform("max")
        train = data[data["time_idx"] <= last - spec.horizon]
        if train.empty:
            raise InvalidInputError(
                f"Every series is shorter than the horizon ({spec.horizon}) plus one period: "
                "nothing is left to train on. Shorten the horizon or add history."
            )
        dataset = self._new_dataset(train)
        self._dataset_parameters = dataset.get_parameters()
        loader = dataset.to_dataloader(
            train=True, batch_size=self.training.batch_size, num_workers=self.training.num_workers
        )
        started = time.perf_counter()
        with _quiet():
            self._model = self._build_model(dataset)
            trainer = self._trainer()
            trainer.fit(self._model, train_dataloaders=loader)
        seconds = time.perf_counter() - started
        self._model.eval()
        if not validate:
            return unvalidated_report(frame, seconds, len(dataset), trainer.current_epoch)
        validation = self._validation_forecasts(frame, data)
        return self._report(frame, validation, seconds, len(dataset), trainer.current_epoch)

    def _build_model(self, dataset):
        return self._network_class().from_dataset(
            dataset,
            **self._network_kwargs(),
            learning_rate=self.training.learning_rate,
            loss=self._loss(),
            logging_metrics=torch.nn.ModuleList([]),
            log_interval=-1,
            # No validation loop to watch (None breaks with this Lightning): never fires.
            reduce_on_plateau_patience=1000,
        )

    def _trainer(self):
        import lightning.pytorch as pl

        return pl.Trainer(
            max_epochs=self.training.max_epochs,
            accelerator="auto",
            devices=1,
            precision=_precision(),
            gradient_clip_val=self.training.gradient_clip_val,
            limit_train_batches=self.training.limit_train_batches or 1.0,
            enable_checkpointing=False,  # Lightning checkpoints are pickles
            logger=False,
            enable_progress_bar=self.progress_bar,
            enable_model_summary=False,
        )

    def _validation_forecasts(self, frame: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
        quantiles, index = self._predict_windows(data)
        steps = np.arange(self.spec.horizon)
        rows = pd.DataFrame(
            {
                "series_id": np.repeat(index["series_id"].to_numpy(), len(steps)),
                "time_idx": (index["time_idx"].to_numpy()[:, None] + steps).ravel(),
                "p10": quantiles[..., 0].ravel(),
                "p50": quantiles[..., 1].ravel(),
                "p90": quantiles[..., 2].ravel(),
            }
        )
        actual = data[["series_id", "time_idx", "ts", "value"]]
        merged = rows.merge(actual, on=["series_id", "time_idx"], how="left")
        return merged.rename(columns={"ts": "target_ts", "value": "actual"}).drop(
            columns="time_idx"
        )

    def _report(self, frame, validation, seconds, n_samples, epochs) -> FitReport:
        h, m = self.spec.horizon, self.spec.season_length
        scores, baseline = [], []
        for sid, val in validation.groupby("series_id"):
            history = frame[frame["series_id"] == sid].iloc[:-h]
            scores.append(mase(val["actual"], val["p50"], history["value"], m))
            naive = seasonal_naive_forecast(history, self.spec)
            baseline.append(mase(val["actual"], naive["p50"], history["value"], m))
        return FitReport(
            train_seconds=seconds,
            n_series=frame["series_id"].nunique(),
            n_train_samples=int(n_samples),
            epochs=int(epochs),
            val_mae=mae(validation["actual"], validation["p50"]),
            val_mase=float(np.nanmean(scores)),
            val_coverage_80=coverage(validation["actual"], validation["p10"], validation["p90"]),
            val_pinball=float(
                np.mean(
                    [
                        pinball(validation["actual"], validation[f"p{int(q * 100)}"], q)
                        for q in QUANTILES
                    ]
                )
            ),
            baseline_val_mase=float(np.nanmean(baseline)),
            validation_forecasts=validation,
        )

    # --- prediction --------------------------------------------------------------------------
    def _predict_windows(self, data: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        dataset = self._dataset_for(data)
        torch.manual_seed(self.training.seed)  # sampling-based quantiles (DeepAR) repeat exactly
        loader = dataset.to_dataloader(train=False, batch_size=512, num_workers=0)
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        prediction = self._model.predict(
            loader,
            mode="quantiles",
            return_index=True,
            trainer_kwargs={
                "accelerator": "auto",
                "devices": 1,
                "logger": False,
                "enable_progress_bar": False,
                "enable_model_summary": False,
            },
        )
        # Quantile heads are trained jointly and can cross; sorting restores p10 <= p50 <= p90.
        quantiles = np.sort(prediction.output.float().cpu().numpy(), axis=-1)
        return quantiles, prediction.index.reset_index(drop=True)

    def _predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        spec, arch = self.spec, self.architecture
        lengths = frame.groupby("series_id")["ts"].transform("size")
        modelled = frame[lengths >= arch.min_encoder_length]
        parts = []
        if not modelled.empty:
            parts.append(self._predict_tft(modelled))
        covered = set(parts[0]["series_id"]) if parts else set()
        for sid, history in frame.groupby("series_id", sort=True):
            if sid not in covered:
                parts.append(seasonal_naive_forecast(history, spec))
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["series_id", "horizon_step"]).reset_index(drop=True)[
            FORECAST_COLUMNS
        ]

    def _with_future(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(model frame plus `horizon` future rows per series, each series' last row)."""
        spec = self.spec
        data = self._model_frame(frame)
        last_rows = data.groupby("series_id").tail(1)
        offset = pd.tseries.frequencies.to_offset(spec.freq)
        future = last_rows.loc[last_rows.index.repeat(spec.horizon)].copy()
        steps = np.tile(np.arange(1, spec.horizon + 1), len(last_rows))
        future["time_idx"] = future["time_idx"] + steps
        future["ts"] = [ts + step * offset for ts, step in zip(future["ts"], steps, strict=True)]
        # The decoder sees only known features; the unknown ones are placeholders it never reads.
        phase = 2 * np.pi * (future["time_idx"] % spec.season_length) / spec.season_length
        future["season_sin"], future["season_cos"] = np.sin(phase), np.cos(phase)
        return pd.concat([data, future], ignore_index=True), last_rows

    def _predict_tft(self, frame: pd.DataFrame) -> pd.DataFrame:
        spec = self.spec
        extended, last_rows = self._with_future(frame)
        offset = pd.tseries.frequencies.to_offset(spec.freq)
        quantiles, index = self._predict_windows(extended)
        origin = last_rows.set_index("series_id")["ts"]
        series = index["series_id"].to_numpy()
        horizon = np.arange(1, spec.horizon + 1)
        out = pd.DataFrame(
            {
                "series_id": np.repeat(series, spec.horizon),
                "forecast_origin": np.repeat(origin.loc[series].to_numpy(), spec.horizon),
                "horizon_step": np.tile(horizon, len(series)),
                "p10": quantiles[..., 0].ravel(),
                "p50": quantiles[..., 1].ravel(),
                "p90": quantiles[..., 2].ravel(),
                "method": self.name,
            }
        )
        out["target_ts"] = [
            o + s * offset for o, s in zip(out["forecast_origin"], out["horizon_step"], strict=True)
        ]
        return out

    # --- persistence -------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.torch import save_model

        if self._model is None:
            raise RuntimeError("Nothing to save: fit() first.")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        hparams = {k: v for k, v in self._model.hparams.items() if k not in OBJECT_HPARAMS}
        config = {
            "forecaster": self.name,
            "format_version": 1,
            "spec": self.spec.model_dump(),
            "architecture": self.architecture.model_dump(),
            "training": self.training.model_dump(),
            "hparams": encode(hparams),
            "output_transformer": encode(self._model.output_transformer),
            "dataset_parameters": encode(self._dataset_parameters),
        }
        (directory / "config.json").write_text(json.dumps(config, indent=1))
        # save_model, not save_file(state_dict()): the TFT shares tensors between modules.
        save_model(self._model, str(directory / "model.safetensors"))

    @classmethod
    def load(cls, directory: Path) -> TFTForecaster:
        from safetensors import SafetensorError
        from safetensors.torch import load_model

        directory = Path(directory)
        config = read_config(directory)
        try:
            forecaster = cls(
                TFTArchitecture(**config["architecture"]),
                TrainingConfig(**config["training"]),
                progress_bar=False,
            )
            forecaster.spec = ForecastSpec(**config["spec"])
            forecaster._dataset_parameters = decode(config["dataset_parameters"])
            if config["forecaster"] != cls.name:
                raise ValueError(f"config is for {config['forecaster']!r}, not {cls.name!r}")
            model = cls._network_class()(
                **decode(config["hparams"]),
                loss=cls._loss(),
                logging_metrics=torch.nn.ModuleList([]),
                output_transformer=decode(config["output_transformer"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"Model config in {directory} is invalid: {error}") from error
        try:
            missing, unexpected = load_model(model, str(directory / "model.safetensors"))
        except (SafetensorError, OSError, RuntimeError) as error:
            raise ArtifactError(f"Weights in {directory} cannot be loaded: {error}") from error
        if missing or unexpected:
            raise ArtifactError(
                f"Weights in {directory} do not match the config: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}."
            )
        forecaster._model = model.eval()
        return forecaster
