{#- Grain: one row per data_version: a feature data version a training or forecast run used.
    ml.feature_data_versions (written by Dagster), each column cast once to the data_type its source yml
    declares (macros/staging.sql); the marts read this view. -#}

{{ cast_source_columns('ml', 'feature_data_versions') }}
