"""ClientConfig: base URL rules (https, /v1), the hidden key, bounds."""

from __future__ import annotations

import pytest

from pipelines.errors import InsecureBaseURL
from pipelines.extract.client import BearerAuth, ClientConfig

from .fake_retab import MARKER_KEY


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.retab.com", "https://api.retab.com"),
        ("https://api.retab.com/", "https://api.retab.com"),
        ("https://proxy.example.com/retab/", "https://proxy.example.com/retab"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://localhost:8123/", "http://localhost:8123"),
        ("http://[::1]:8123", "http://[::1]:8123"),
        ("http://127.3.4.5", "http://127.3.4.5"),
    ],
)
def test_base_url_is_normalised(given: str, expected: str) -> None:
    assert ClientConfig(api_key="k", base_url=given).base_url == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.retab.com/v1", "https://api.retab.com"),
        ("https://api.retab.com/v1/", "https://api.retab.com"),
        ("http://127.0.0.1:8123/v2", "http://127.0.0.1:8123"),
    ],
)
def test_a_trailing_version_is_dropped_with_a_warning(given: str, expected: str) -> None:
    with pytest.warns(UserWarning, match="ends with a version segment"):
        assert ClientConfig(api_key="k", base_url=given).base_url == expected


@pytest.mark.parametrize(
    "url",
    ["http://api.retab.com", "http://10.0.0.5:8000", "http://localhost.evil.com", "http://0.0.0.0:80"],
)
def test_plain_http_is_refused_unless_the_host_is_loopback(url: str) -> None:
    with pytest.raises(InsecureBaseURL, match="https") as caught:
        ClientConfig(api_key=MARKER_KEY, base_url=url)
    assert isinstance(caught.value, ValueError)
    assert MARKER_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["api.retab.com", "ftp://api.retab.com", "https://api.retab.com/?x=1", "https://user:pw@api.retab.com"],
    ids=["no-scheme", "ftp", "query", "credentials"],
)
def test_malformed_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="RETAB_API_BASE_URL") as caught:
        ClientConfig(api_key="k", base_url=url)
    assert "pw" not in str(caught.value)


def test_the_key_is_hidden_from_repr() -> None:
    config = ClientConfig(api_key=MARKER_KEY)
    assert MARKER_KEY not in repr(config) and MARKER_KEY not in str(config)
    assert MARKER_KEY not in repr(BearerAuth(MARKER_KEY))


@pytest.mark.parametrize(
    "overrides",
    [
        {"api_key": ""},
        {"api_key": "  "},
        {"page_limit": 101},
        {"page_limit": 0},
        {"read_timeout": 0},
        {"max_attempts": 0},
        {"max_rps": -1},
    ],
    ids=["empty-key", "blank-key", "limit-101", "limit-0", "no-read-timeout", "no-attempts", "negative-rps"],
)
def test_out_of_range_settings_are_refused(overrides: dict) -> None:
    with pytest.raises(ValueError):
        ClientConfig(**{"api_key": "k", **overrides})


def test_from_env_reads_the_sdk_variables() -> None:
    env = {"RETAB_API_KEY": MARKER_KEY, "RETAB_API_BASE_URL": "http://127.0.0.1:9000/"}
    config = ClientConfig.from_env(env, page_limit=50)
    assert (config.api_key, config.base_url, config.page_limit) == (MARKER_KEY, "http://127.0.0.1:9000", 50)
    assert ClientConfig.from_env({"RETAB_API_KEY": "k"}).base_url == "https://api.retab.com"
    with pytest.raises(ValueError, match="RETAB_API_KEY is not set"):
        ClientConfig.from_env({})
