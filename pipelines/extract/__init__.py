"""Extract: the Retab HTTP client, its retry policy and rate limit, pagination and day windows."""
