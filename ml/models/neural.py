"""The shared half of the deep models on warecast's tensor path (ml/windows.py).

A network maps (past values, time indices of past + future) to (batch, horizon, 3) quantiles
p10/p50/p90, ordered by construction. This module trains it with Lightning (accelerator
"auto", bf16 autocast on CUDA, any strategy incl. DDP), forecasts, and saves it as
model.safetensors + config.json (spec, config, the per-series scaler as plain numbers).
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn

from ml.config import QUANTILES, ForecastSpec, NeuralConfig
from ml.errors import ArtifactError, InvalidInputError
from ml.frames import drop_leading_nulls, validate_training_frame
from ml.models.base import FORECAST_COLUMNS, FitReport, Forecaster, read_config, write_config
from ml.models.fallback import seasonal_naive_forecast
from ml.models.report import forecast_frame, holdout_report, unvalidated_report
from ml.windows import SeriesScaler, SeriesTensors, WindowStarts, season_features

_QUANTILES = torch.tensor(QUANTILES)


def ordered_quantiles(raw: torch.Tensor) -> torch.Tensor:
    """(..., 3) free outputs -> p10 <= p50 <= p90: the median plus/minus positive spreads."""
    median = raw[..., 1]
    low = median - nn.functional.softplus(raw[..., 0])
    high = median + nn.functional.softplus(raw[..., 2])
    return torch.stack([low, median, high], dim=-1)


def pinball_loss(quantiles: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    diff = target.unsqueeze(-1) - quantiles
    q = _QUANTILES.to(quantiles.device, quantiles.dtype)
    return torch.maximum(q * diff, (q - 1) * diff).mean()


def normalise_windows(past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centre and scale each window on its own encoder part: state-free, no look-ahead."""
    loc = past.mean(dim=1, keepdim=True)
    scale = past.std(dim=1, keepdim=True).clamp(min=1e-3)
    return (past - loc) / scale, loc, scale


def seasonal_base(x: torch.Tensor, season_length: int, horizon: int) -> torch.Tensor:
    """The last season of each window repeated over the horizon (lag 1 if the window is shorter)."""
    lag = season_length if x.shape[1] >= season_length else 1
    return x[:, x.shape[1] - lag + torch.arange(horizon, device=x.device) % lag]


def forecast_windows(net: nn.Module, past: torch.Tensor, time_idx: torch.Tensor, season: int):
    """Quantiles (B, H, 3) in window-normalised units, plus the window's loc and scale.

    The network learns a correction to the seasonal naive forecast: it starts from the
    yardstick MASE is scaled by instead of having to rediscover seasonality on every fit.
    """
    x, loc, scale = normalise_windows(past)
    horizon = time_idx.shape[1] - past.shape[1]
    out = net(x, season_features(time_idx, [season])).float()
    return out + seasonal_base(x, season, horizon).unsqueeze(-1).float(), loc, scale


@contextmanager
def _cpu_threads(threads: int | None):
    """Small networks on a shared CPU: one thread each is often several times faster."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _precision() -> str:
    return "bf16-mixed" if torch.cuda.is_available() else "32-true"


class WindowModule(pl.LightningModule):
    """Trains `net` on windows gathered from tensors that sit on the training device; validates
    on `val_starts` (one window per series, after the training windows) when given."""

    def __init__(self, net, data: SeriesTensors, spec: ForecastSpec, cfg: NeuralConfig, steps):
        super().__init__()
        self.net, self.data, self.spec, self.cfg, self.steps = net, data, spec, cfg, steps

    def on_fit_start(self):
        self.data = self.data.to(self.device)  # once: batches are gathered on the device

    def _loss(self, starts: torch.Tensor) -> torch.Tensor:
        past, time_idx, future = self.data.gather(
            starts, self.cfg.encoder_length, self.spec.horizon
        )
        out, loc, scale = forecast_windows(self.net, past, time_idx, self.spec.season_length)
        return pinball_loss(out, (future - loc) / scale)

    def training_step(self, starts, batch_idx):
        loss = self._loss(starts)
        self.log("train_loss", loss, prog_bar=True, batch_size=len(starts))
        return loss

    def validation_step(self, starts, batch_idx):
        loss = self._loss(starts.to(self.device))
        self.log("val_loss", loss, prog_bar=True, batch_size=len(starts), sync_dist=True)

    def configure_optimizers(self):
        cfg = self.cfg
        optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        if cfg.lr_schedule == "constant":
            return optimizer
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.learning_rate, total_steps=self.steps
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class KeepBest(pl.Callback):
    """The network's weights at its best validation loss, in memory (no checkpoint pickles)."""

    def __init__(self):
        self.loss, self.epochs, self.state = float("inf"), 0, None

    def on_validation_end(self, trainer, module):
        loss = trainer.callback_metrics.get("val_loss")
        if trainer.sanity_checking or loss is None or not float(loss) < self.loss:
            return
        self.loss, self.epochs = float(loss), trainer.current_epoch + 1
        self.state = {k: v.detach().clone() for k, v in module.net.state_dict().items()}


class Members(nn.Module):
    """The ensemble: networks of one architecture trained with different seeds."""

    def __init__(self, nets: list[nn.Module]):
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, past: torch.Tensor, time_features: torch.Tensor) -> torch.Tensor:
        """Each quantile's median over the members: (B, H, 3), still ordered."""
        outputs = torch.stack([net(past, time_features).float() for net in self.nets])
        return outputs.quantile(0.5, dim=0) if len(self.nets) > 1 else outputs[0]


class TensorPathForecaster(Forecaster):
    supports_quantiles = True
    supports_covariates = False
    supports_gpu = True
    preset_family: ClassVar[str]

    def __init__(self, config: NeuralConfig | None = None, progress_bar: bool = False):
        self.config = config or NeuralConfig()
        self.preset_config = self.config  # fit() may shorten the encoder from this one
        self.progress_bar = progress_bar
        self.spec: ForecastSpec | None = None
        self.scaler: SeriesScaler | None = None
        self.net: nn.Module | None = None
        self.log_values = False  # log1p applied: config.log_scale and non-negative training data

    @classmethod
    def from_preset(cls, preset: dict, **overrides: Any) -> TensorPathForecaster:
        progress_bar = overrides.pop("progress_bar", False)
        return cls(NeuralConfig(**{**preset, **overrides}), progress_bar=progress_bar)

    def build_net(self, spec: ForecastSpec) -> nn.Module:
        raise NotImplementedError

    # --- how much history -------------------------------------------------------------------
    def min_encoder(self, spec: ForecastSpec) -> int:
        """The shortest encoder fit() shortens to: one season, so each window still holds the
        seasonal-naive base the network corrects (never below label_length or the preset's
        own length if that is shorter)."""
        cfg = self.preset_config
        return max(min(cfg.encoder_length, max(spec.season_length, 2)), cfg.label_length)

    def min_history(self, spec: ForecastSpec, validate: bool = True) -> int:
        """One training window of the shortest encoder, after the held-out horizon."""
        return self.min_encoder(spec) + spec.horizon * (2 if validate else 1)

    def fitted_encoder(self, lengths: np.ndarray, spec: ForecastSpec, holdout: int) -> int:
        """The preset's encoder_length, or shorter where a quarter of the series would have
        no training window that long: short histories train on shorter windows (and get the
        network's forecast from that many periods) instead of falling back wholesale."""
        room = int(np.quantile(lengths, 0.25)) - spec.horizon - holdout
        return int(np.clip(room, self.min_encoder(spec), self.preset_config.encoder_length))

    # --- training ----------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, spec: ForecastSpec, validate: bool = True) -> FitReport:
        """validate=True holds each series' last horizon out of everything (scaler, training)
        and scores it; validate=False trains on the whole history."""
        clean = drop_leading_nulls(validate_training_frame(frame, spec.freq))
        self.spec = spec
        holdout = spec.horizon if validate else 0
        lengths = clean.groupby("series_id").size().to_numpy()
        encoder = self.fitted_encoder(lengths, spec, holdout)
        # Saved with the model (config.json), so load() builds the same network.
        self.config = cfg = self.preset_config.model_copy(update={"encoder_length": encoder})
        self.log_values = cfg.log_scale and bool((clean["value"] >= 0).all())
        modelled = self._to_model_scale(clean)
        position = modelled.groupby("series_id").cumcount()
        sizes = modelled.groupby("series_id")["ts"].transform("size")
        self.scaler = SeriesScaler.fit(modelled[position < sizes - holdout])
        data = SeriesTensors.build(modelled, spec.freq, self.scaler)
        length = cfg.encoder_length + spec.horizon
        if len(data.window_starts(length, holdout=holdout)) == 0:
            raise InvalidInputError(
                f"No training window: every series is shorter than "
                f"{self.min_history(spec, validate)} periods (an encoder of "
                f"{cfg.encoder_length}, the horizon {spec.horizon}{' twice' if validate else ''})."
                " Use a shorter horizon or more history; callers "
                "check min_history() first and fall back to seasonal naive."
            )
        started = time.perf_counter()
        members, epochs = [], 0
        for member in range(cfg.ensemble):
            net, member_epochs = self._train_member(data, holdout, cfg.seed + member)
            members.append(net.cpu().eval())
            epochs += member_epochs
        seconds = time.perf_counter() - started
        self.net = Members(members).eval()
        n_samples = cfg.batch_size * cfg.batches_per_epoch * epochs
        if not validate:
            return unvalidated_report(clean, seconds, n_samples, epochs)
        return holdout_report(clean, spec, self._forecast, seconds, n_samples, epochs)

    def _train_member(self, data: SeriesTensors, holdout: int, seed: int) -> tuple[nn.Module, int]:
        """One network: with early stopping, first on windows before a validation horizon
        (keeping its best epoch), then, with `refit`, afresh on all windows for that long."""
        cfg, spec = self.config, self.spec
        length = cfg.encoder_length + spec.horizon
        epochs, val_starts = cfg.max_epochs, None
        if cfg.early_stopping_patience:
            val_starts = data.last_window_starts(length, holdout=holdout)
            if len(data.window_starts(length, holdout=holdout + spec.horizon)) == 0:
                val_starts = None  # too short to split: train without early stopping
        if val_starts is not None and len(val_starts):
            best = KeepBest()
            starts = data.window_starts(length, holdout=holdout + spec.horizon)
            net = self._run(data, starts, seed, cfg.max_epochs, val_starts, best)
            epochs = best.epochs or cfg.max_epochs
            if best.state is not None:
                net.load_state_dict(best.state)
            if not cfg.refit:
                return net, epochs
        starts = data.window_starts(length, holdout=holdout)
        return self._run(data, starts, seed, epochs), epochs

    def _run(self, data, starts, seed, epochs, val_starts=None, best=None) -> nn.Module:
        cfg = self.config
        pl.seed_everything(seed, verbose=False)
        net = self.build_net(self.spec)
        batches = WindowStarts(starts, cfg.batch_size, cfg.batches_per_epoch, seed)
        loader = torch.utils.data.DataLoader(batches, batch_size=None)
        val_loader = None
        if val_starts is not None:
            val_loader = torch.utils.data.DataLoader(list(val_starts.split(4096)), batch_size=None)
        callbacks = []
        if best is not None:
            callbacks = [best, EarlyStopping("val_loss", patience=cfg.early_stopping_patience)]
        trainer = self._trainer(epochs, callbacks, validate=val_loader is not None)
        module = WindowModule(net, data, self.spec, cfg, steps=epochs * cfg.batches_per_epoch)
        with warnings.catch_warnings(), _cpu_threads(cfg.cpu_threads):
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*IterableDataset.*__len__.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*`validation_step` but have no.*")
            logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
            trainer.fit(module, train_dataloaders=loader, val_dataloaders=val_loader)
        self.trained_world_size = trainer.world_size  # processes that trained (DDP: > 1)
        return net

    def _to_model_scale(self, frame: pd.DataFrame) -> pd.DataFrame:
        if not self.log_values:
            return frame
        if (frame["value"] < 0).any():
            raise InvalidInputError(
                f"{self.name} was trained on log1p(value) of non-negative series; this frame "
                "has negative values. Retrain (log_scale is skipped for such data)."
            )
        return frame.assign(value=np.log1p(frame["value"].to_numpy(dtype="float64")))

    def _trainer(self, epochs: int, callbacks: list, validate: bool):
        cfg = self.config
        return pl.Trainer(
            max_epochs=epochs,
            callbacks=callbacks,
            limit_val_batches=None if validate else 0,
            num_sanity_val_steps=0,
            accelerator=cfg.accelerator,
            devices=cfg.devices,
            strategy=cfg.strategy,
            precision=_precision() if cfg.accelerator != "cpu" else "32-true",
            gradient_clip_val=cfg.gradient_clip_val,
            enable_checkpointing=False,  # Lightning checkpoints are pickles
            logger=False,
            enable_progress_bar=self.progress_bar,
            enable_model_summary=False,
        )

    # --- prediction --------------------------------------------------------------------------
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.net is None or self.spec is None:
            raise RuntimeError("Call fit() or load() before predict().")
        clean = drop_leading_nulls(validate_training_frame(frame, self.spec.freq))
        return self._forecast(clean)

    def _forecast(self, history: pd.DataFrame) -> pd.DataFrame:
        spec, length = self.spec, self.config.encoder_length
        sizes = history.groupby("series_id")["ts"].transform("size")
        parts = []
        modelled = history[sizes >= length].reset_index(drop=True)
        if not modelled.empty:
            parts.append(self._forecast_net(modelled))
        short = history[sizes < length]
        parts += [seasonal_naive_forecast(h, spec) for _, h in short.groupby("series_id")]
        if not parts:
            return pd.DataFrame(columns=FORECAST_COLUMNS)
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["series_id", "horizon_step"], ignore_index=True)

    @torch.no_grad()
    def _forecast_net(self, history: pd.DataFrame) -> pd.DataFrame:
        spec, length = self.spec, self.config.encoder_length
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        modelled = self._to_model_scale(history)
        data = SeriesTensors.build(modelled, spec.freq, self.scaler).to(device)
        net = self.net.to(device).eval()
        starts = data.offsets[1:] - length
        chunks = []
        for chunk in starts.split(4096):
            past, time_idx, _ = data.gather(chunk, length, spec.horizon)
            out, loc, scale = forecast_windows(net, past, time_idx, spec.season_length)
            chunks.append((out * scale[..., None] + loc[..., None]).cpu())
        self.net = net.cpu()
        scaled = torch.cat(chunks).double().numpy()
        values = scaled * data.std[:, None, None] + data.mean[:, None, None]
        if self.log_values:
            values = np.expm1(values)
        origins = history.groupby("series_id", sort=False)["ts"].max()
        return forecast_frame(origins.loc[data.series_ids], values, spec, self.name)

    # --- persistence -------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        from safetensors.torch import save_file

        if self.net is None:
            raise RuntimeError("Nothing to save: fit() first.")
        directory = write_config(
            directory, self, 2, log_values=self.log_values, scaler=self.scaler.to_json()
        )
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(directory / "model.safetensors"))

    @classmethod
    def load(cls, directory: Path) -> TensorPathForecaster:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        config = read_config(directory)
        try:
            if config["forecaster"] != cls.name:
                raise ValueError(f"config is for {config['forecaster']!r}, not {cls.name!r}")
            forecaster = cls(NeuralConfig(**config["config"]))  # the encoder fit() used
            forecaster.spec = ForecastSpec(**config["spec"])
            forecaster.scaler = SeriesScaler.from_json(config["scaler"])
            forecaster.log_values = bool(config["log_values"])
            size = forecaster.config.ensemble
            net = Members([forecaster.build_net(forecaster.spec) for _ in range(size)])
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"Model config in {directory} is invalid: {error}") from error
        try:
            net.load_state_dict(load_file(str(directory / "model.safetensors")), strict=True)
        except (SafetensorError, OSError, RuntimeError) as error:
            raise ArtifactError(f"Weights in {directory} cannot be loaded: {error}") from error
        forecaster.net = net.eval()
        return forecaster
