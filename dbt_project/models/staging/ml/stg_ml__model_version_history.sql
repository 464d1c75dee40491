{#- Grain: one row per (model_name, model_version, event, event_at): an event in a model version's history.
    ml.model_version_history (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'model_version_history') }}
