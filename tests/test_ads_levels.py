"""The ads levels table (pipelines/ads/levels.py) is consistent: a tree rooted at the ad account, its API names are
the official description's, and every level has its wide table, dimension, checks, view and dictionary entries."""

from __future__ import annotations

import pytest

from pipelines import api_enums, catalog, quality, reporting_views
from pipelines.ads import dimensions
from pipelines.ads.levels import ACCOUNT, BY_NAME, LEVELS, UNDER_ACCOUNT, ancestors, carried_ids, parent_ids
from pipelines.data_dictionary import RELATIONS
from pipelines.pinterest.endpoints import ENDPOINTS

BY_LEVEL = pytest.mark.parametrize("level", LEVELS, ids=[level.name for level in LEVELS])
CHILDREN = pytest.mark.parametrize("level", UNDER_ACCOUNT, ids=[level.name for level in UNDER_ACCOUNT])


def test_the_levels_are_a_chain_from_the_ad_account_parents_first():
    assert [level.name for level in LEVELS] == ["ad_account", "campaign", "ad_group", "ad"]
    assert ACCOUNT.parent is None and all(level.parent is not None for level in UNDER_ACCOUNT)
    assert [level.parent for level in UNDER_ACCOUNT] == [level.name for level in LEVELS[:-1]]
    assert [ancestor.name for ancestor in ancestors(BY_NAME["ad"])] == ["ad_group", "campaign", "ad_account"]
    assert parent_ids(BY_NAME["ad"]) == ("ad_group_id", "campaign_id", "ad_account_id")


@BY_LEVEL
def test_names_and_ids_are_unique_across_levels(level):
    for field in ("name", "id_column", "list_endpoint", "analytics_endpoint", "row_id_field", "report_level",
                  "fact_table", "dimension"):
        assert [getattr(other, field) for other in LEVELS].count(getattr(level, field)) == 1, field


def _resolved(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _properties(spec: dict, schema: dict) -> dict[str, dict]:
    """A schema's properties, through $ref and allOf."""
    schema = _resolved(spec, schema)
    merged = {}
    for part in schema.get("allOf", []):
        merged.update(_properties(spec, part))
    return {**merged, **schema.get("properties", {})}


def _parameters(spec: dict, path: str) -> set[str]:
    """The names of the GET parameters of a path of the official description."""
    return {(spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]] if "$ref" in p else p)["name"]
            for p in spec["paths"][path]["get"].get("parameters", [])}


def _listed_item_fields(spec: dict, path: str) -> set[str]:
    """The fields of the items a list endpoint answers."""
    answer = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return set(_properties(spec, _properties(spec, answer)["items"]["items"]))


@BY_LEVEL
def test_a_levels_analytics_endpoint_takes_its_id_parameter_as_the_official_description_names_it(spec, level):
    parameters = _parameters(spec, ENDPOINTS[level.analytics_endpoint].path)
    assert ACCOUNT.id_column in parameters  # every level's analytics are asked per ad account (in the path)
    if level.id_parameter is None:
        assert level is ACCOUNT
    else:
        assert level.id_parameter in parameters


@BY_LEVEL
def test_a_levels_row_id_field_and_report_level_are_official_enum_values(level):
    assert level.row_id_field in api_enums.ADS_ANALYTICS_COLUMNS
    assert level.row_id_field in api_enums.ASYNC_REPORT_COLUMNS
    assert level.report_level in api_enums.REPORT_LEVELS


@BY_LEVEL
def test_a_levels_listed_items_name_its_ancestors_by_their_id_columns(spec, level):
    assert {"id", *carried_ids(level)} <= _listed_item_fields(spec, ENDPOINTS[level.list_endpoint].path)


@BY_LEVEL
def test_every_level_has_its_wide_table_and_dimension(level):
    table = catalog.FACT_TABLES[level.fact_table]
    assert (table.entity_type, table.id_column, table.source) == (level.name, level.id_column, "ads")
    assert table.parents == carried_ids(level)
    assert quality.DIMENSION_KEYS[level.dimension] == (level.id_column,)
    assert {level.id_column, *carried_ids(level)} <= set(dimensions.SCHEMAS[level.dimension].names)
    assert {level.fact_table, level.dimension} <= set(RELATIONS)


def test_the_dimension_schemas_are_the_levels_dimensions():
    assert list(dimensions.SCHEMAS) == [level.dimension for level in LEVELS]


@CHILDREN
def test_every_level_under_the_account_has_its_checks_and_view(level):
    checks = {check.name for check in quality.ADS_CHECKS}
    assert level.adds_up_check in checks
    assert f"{level.dimension}_have_known_{level.parent}" in checks
    assert level.view in reporting_views.REPORTING_VIEWS and level.view in RELATIONS
    assert f"unique_key_{level.dimension}" in checks


def test_every_level_is_checked_for_unknown_entities():
    known = next(check for check in quality.ADS_CHECKS if check.name == "ads_rows_have_known_entities")
    assert all(f"FROM {level.dimension}" in known.offending_rows_sql for level in LEVELS)
