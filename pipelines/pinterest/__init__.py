"""The Pinterest API v5 client: endpoint descriptions, one request loop, OAuth, budgets and retries."""
