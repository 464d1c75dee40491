"""pytorch-forecasting's TimeSeriesDataSet with its scalers fed the way they were fitted.

With an EncoderNormalizer target and `add_target_scales=True` (the TFT, DeepAR and N-HiTS
here), the dataset adds the static reals `value_center`/`value_scale` and fits a StandardScaler
on each from a *DataFrame* column, so sklearn records the feature name. `__getitem__` then
scales every sample's centre and scale through `transform_values` with a bare tensor, and
sklearn warns "X does not have valid feature names, but StandardScaler was fitted with feature
names" twice per training sample (sktime/pytorch-forecasting#1303): 164,432 lines of one
`make demo`. Here array input to a StandardScaler fitted on one named column is scaled by
that scaler's own mean_ and scale_ directly: the same numbers, no warning, and none of
sklearn's per-call validation.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd


def scale_array(scaler, values, inverse: bool = False) -> np.ndarray:
    """StandardScaler.transform / inverse_transform of one column, as plain arithmetic: it runs
    twice per training sample, where sklearn's input validation alone cost ~150 us a call."""
    column = np.asarray(values, dtype="float64").reshape(-1)
    mean = scaler.mean_[0] if scaler.with_mean else 0.0
    scale = scaler.scale_[0] if scaler.with_std else 1.0
    return column * scale + mean if inverse else (column - mean) / scale


@cache
def dataset_class():
    """The subclass, built on first use so importing ml.models never imports the library."""
    from pytorch_forecasting import TimeSeriesDataSet
    from sklearn.preprocessing import StandardScaler

    class NamedScalerDataSet(TimeSeriesDataSet):
        def transform_values(
            self, name, values, data=None, inverse=False, group_id=False, **kwargs
        ):
            transformer = self.get_transformer(name, group_id=group_id)
            names = getattr(transformer, "feature_names_in_", None)
            if (
                isinstance(transformer, StandardScaler)
                and names is not None
                and len(names) == 1
                and not kwargs
                and not isinstance(values, pd.Series | pd.DataFrame)
            ):
                return scale_array(transformer, values, inverse)
            return super().transform_values(name, values, data, inverse, group_id, **kwargs)

    return NamedScalerDataSet
