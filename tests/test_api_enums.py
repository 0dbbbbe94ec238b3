"""The enumerations the code validates against equal the official OpenAPI description's."""

from pipelines import api_enums
from tools.generate_api_enums import enums_from_spec


def test_generated_enums_match_the_official_description(spec):
    assert api_enums.SPEC_VERSION == spec["info"]["version"]
    for name, values in enums_from_spec(spec).items():
        assert getattr(api_enums, name) == tuple(values), name


def test_the_documented_enum_sizes(spec):
    assert len(api_enums.USER_ACCOUNT_METRIC_TYPES) == 9
    assert len(api_enums.ADS_ANALYTICS_COLUMNS) == 175
    assert len(api_enums.DATA_STATUSES) == 23
