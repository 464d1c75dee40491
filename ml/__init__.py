"""warecast's model code: pandas/Arrow in, fitted models and forecast frames out.

Never opens a warehouse connection and never imports dagster or mlflow.
"""
