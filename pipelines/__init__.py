"""Pinterest API v5 analytics ETL: the API client, planning, normalization, loading and the local simulator."""
