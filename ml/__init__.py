"""warecast's model code: pandas/Arrow in, fitted models and forecast frames out.

Never opens a warehouse connection and never imports dagster or mlflow.
"""

import os

# OpenMP threads (LightGBM, torch) that wait by spinning hold their core: when anything else
# runs (dbt, a second Dagster step, another worker), every boosting round waits for a thread
# that lost its core. Measured on 2 cores beside one busy process: LightGBM 44 s spinning,
# 4 s sleeping, 5.8 s on one thread (benchmarks/peer.py runs). Read when the library loads,
# so it is set here, before any model module imports one; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
