"""`warecast status`: what is loaded, which features, which champion, when forecasts were written,
and what is stale. Read-only, from the marts (and the raw table's row count), on every target.
"""

from __future__ import annotations

import argparse

from orchestration.cli.tables import number, when
from orchestration.dbt_models import (
    FEATURES_MODEL,
    FINGERPRINT_MODEL,
    LATEST_MODEL,
    MODEL_VERSIONS_MODEL,
    find_model_node,
    mart_relation,
    node_relation,
)

FINGERPRINT = mart_relation(FINGERPRINT_MODEL)
VERSIONS = mart_relation(MODEL_VERSIONS_MODEL)
LATEST = mart_relation(LATEST_MODEL)


def status(args: argparse.Namespace, client, settings, profile: dict) -> int:
    where = profile.get("path") or profile.get("host") or profile.get("account")
    print(
        f"warecast status: target {profile['target_name']!r} ({where}), pipeline {settings.name!r}"
    )
    raw = _one(client, ("raw", "observations"), distinct=["series_id"], newest=["loaded_at"])
    features = _fingerprint(client)
    champion = _champion(client, settings.model_name)
    written = _forecasts(client, settings.model_name)
    lines = [
        ("raw.observations", _raw_line(raw)),
        ("features", _features_line(features)),
        ("champion", _champion_line(settings.model_name, champion)),
        ("forecasts", _forecasts_line(written)),
    ]
    width = max(len(label) for label, _ in lines)
    for label, text in lines:
        print(f"  {label.ljust(width)}  {text}")
    stale = _stale(raw, features, champion, written)
    print(f"  {'stale'.ljust(width)}  {'nothing' if not stale else stale[0]}")
    for reason in stale[1:]:
        print(f"  {''.ljust(width)}  {reason}")
    return 0


def _one(client, relation, distinct=(), newest=()) -> dict | None:
    if not client.table_exists(*relation):
        return None
    rows = client.summarize(*relation, count_distinct=distinct, newest=newest).to_pylist()
    return rows[0] if rows else None


def _fingerprint(client) -> dict | None:
    if not client.table_exists(*FINGERPRINT):
        return None
    rows = client.read_table(*FINGERPRINT).to_pylist()
    if len(rows) != 1:
        return None
    row = rows[0]
    row["data_version"] = _data_version(row)
    return row


def _data_version(fingerprint: dict) -> str | None:
    """The data version Dagster gives the feature mart: its fingerprint + the dbt checksum."""
    from orchestration.lineage import FeatureDataVersion

    node = find_model_node(FEATURES_MODEL, parse=False)  # status never runs dbt
    if node is None:
        return None
    return FeatureDataVersion(
        feature_table=".".join(node_relation(node)),
        row_count=int(fingerprint["row_count"]),
        series_count=int(fingerprint["series_count"] or 0),
        min_ts=fingerprint["min_ts"],
        max_ts=fingerprint["max_ts"],
        content_hash=str(fingerprint["content_hash"]),
        dbt_checksum=node["checksum"]["checksum"],
    ).data_version


def _champion(client, model: str) -> dict | None:
    if not client.table_exists(*VERSIONS):
        return None
    rows = client.read_where(*VERSIONS, {"model_name": model, "is_champion": True}).to_pylist()
    return rows[0] if rows else None


def _forecasts(client, model: str) -> list[dict]:
    if not client.table_exists(*LATEST):
        return []
    groups = ["model_name", "model_version", "feature_data_version"]
    table = client.summarize(*LATEST, groups, ["series_id"], ["created_at"])
    return [row for row in table.to_pylist() if row["model_name"] == model]


def _raw_line(raw: dict | None) -> str:
    if raw is None:
        return "not loaded (warecast load FILE ..., or warecast run)"
    return (
        f"{number(raw['row_count'])} rows, {number(raw['series_id_distinct'])} series, "
        f"newest load {when(raw['loaded_at_newest'])}"
    )


def _features_line(features: dict | None) -> str:
    if features is None:
        return "not built (warecast run)"
    return (
        f"marts.fct_training_features {number(features['row_count'])} rows, "
        f"{number(features['series_count'])} series, {when(features['min_ts'])} .. "
        f"{when(features['max_ts'])}; data version {features['data_version'] or 'unknown'}"
    )


def _champion_line(model: str, champion: dict | None) -> str:
    if champion is None:
        return f"none for {model} yet (warecast run)"
    metric = champion["backtest_metric"]
    score = f", backtest {champion['backtest_metric_name']} {number(metric)}" if metric else ""
    return (
        f"{model} version {champion['model_version']} since {when(champion['champion_since'])}"
        f"{score}; trained on data version {champion['feature_data_version']}"
    )


def _forecasts_line(written: list[dict]) -> str:
    if not written:
        return "none written yet (warecast run)"
    rows = sum(g["row_count"] for g in written)
    newest = max(written, key=lambda g: g["created_at_newest"])
    series = max(g["series_id_distinct"] for g in written)
    return (
        f"{number(rows)} rows for {number(series)} series, written "
        f"{when(newest['created_at_newest'])} by version {newest['model_version']}"
    )


def _stale(raw, features, champion, written) -> list[str]:
    rerun = "warecast run --dataset current"
    reasons = []
    newest = max(written, key=lambda g: g["created_at_newest"]) if written else None
    loaded = raw["loaded_at_newest"] if raw else None
    if loaded and newest and loaded > newest["created_at_newest"]:
        reasons.append(f"raw data was loaded after the newest forecasts: {rerun}")
    current = features["data_version"] if features else None
    if champion and current and champion["feature_data_version"] != current:
        reasons.append(f"the champion was trained on other feature data: {rerun}")
    if newest and current and newest["feature_data_version"] != current:
        reasons.append(f"the forecasts were made from other feature data: {rerun}")
    if champion and newest and newest["model_version"] != champion["model_version"]:
        reasons.append(
            f"the forecasts are from version {newest['model_version']}, the champion is "
            f"{champion['model_version']}: {rerun}"
        )
    return reasons
