"""Specification of ``api_root_url``: where a ``neetocal`` connection sends requests, or why it refuses."""

from __future__ import annotations

import pytest

from airflow_provider_neetocal._compat import AirflowFailException
from airflow_provider_neetocal.connection import API_PATH, api_root_url, is_loopback
from airflow_provider_neetocal.exceptions import NeetoCalConfigError


def refusal(host: str | None, port: int | None = None, base_url: str | None = None) -> NeetoCalConfigError:
    with pytest.raises(NeetoCalConfigError) as caught:
        api_root_url(host, port, base_url)
    return caught.value


def test_api_path_is_external_v1() -> None:
    assert API_PATH == "/api/external/v1"


# --- workspace subdomains ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["acme", "ACME", " acme ", "acme.neetocal.com", "Acme.NeetoCal.com", "acme.neetocal.com.", "acme-labs"],
)
def test_workspace_subdomain_gives_the_neetocal_https_root(host: str) -> None:
    expected_label = host.strip().lower().split(".")[0]

    assert api_root_url(host) == f"https://{expected_label}.neetocal.com/api/external/v1"


def test_workspace_with_port_keeps_the_port() -> None:
    assert api_root_url("acme", 8443) == "https://acme.neetocal.com:8443/api/external/v1"


@pytest.mark.parametrize("host", ["acme", "127.0.0.1"])
def test_port_0_means_no_port(host: str) -> None:
    assert api_root_url(host, 0) == api_root_url(host, None)


@pytest.mark.parametrize("port", [-1, 65536, 99999])
def test_port_out_of_range_is_refused_saying_0_means_none(port: int) -> None:
    error = refusal("acme", port)

    assert error.field == "port"
    assert str(error) == (
        f"Invalid NeetoCal connection port: {port} is not a TCP port: "
        "expected 0 (none, the scheme's default) or 1 to 65535"
    )


@pytest.mark.parametrize(
    "host",
    [
        "acme_labs",
        "-acme",
        "acme-",
        "a" * 64,
        "acme corp",
        "a.b.neetocal.com",
        "neetocal.com",
        "acme.example.com",
        "acme/",
        "acme.neetocal.com/api/external/v1",
        "127.0.0.1:8765",
    ],
)
def test_host_that_is_not_a_dns_label_is_refused_with_a_clear_message(host: str) -> None:
    error = refusal(host)

    assert error.field == "host"
    assert f"{host!r} is not a workspace subdomain" in str(error)
    assert "expected a DNS label of letters, digits and hyphens" in str(error)


def test_label_of_63_characters_is_accepted() -> None:
    assert api_root_url("a" * 63) == f"https://{'a' * 63}.neetocal.com/api/external/v1"


@pytest.mark.parametrize("host", [None, "", "   "], ids=repr)
def test_empty_host_is_refused_saying_what_to_set(host: str | None) -> None:
    error = refusal(host)

    assert error.field == "host"
    assert str(error).startswith("Invalid NeetoCal connection host: empty — fix the connection; nothing was sent\n")
    assert "\nhost: empty: set Workspace" in str(error)


# --- loopback addresses without a scheme ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8765, "http://127.0.0.1:8765/api/external/v1"),
        ("127.0.0.1", None, "http://127.0.0.1/api/external/v1"),
        ("localhost", 8765, "http://localhost:8765/api/external/v1"),
        ("LOCALHOST", 8765, "http://localhost:8765/api/external/v1"),
        ("127.1.2.3", 80, "http://127.1.2.3:80/api/external/v1"),
        ("::1", 8765, "http://[::1]:8765/api/external/v1"),
        ("[::1]", 8765, "http://[::1]:8765/api/external/v1"),
        ("[::1]", None, "http://[::1]/api/external/v1"),
    ],
)
def test_loopback_without_scheme_gives_plain_http(host: str, port: int | None, expected: str) -> None:
    assert api_root_url(host, port) == expected


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("localhost.neetocal.com", None, "https://localhost.neetocal.com/api/external/v1"),
        ("LOCALHOST.NeetoCal.com.", 8765, "https://localhost.neetocal.com:8765/api/external/v1"),
        (" localhost.neetocal.com ", 0, "https://localhost.neetocal.com/api/external/v1"),
    ],
)
def test_a_workspace_named_localhost_stays_on_neetocal_over_https(host: str, port: int | None, expected: str) -> None:
    """The key must never go in clear text to a local listener because a workspace name reads like one."""
    assert api_root_url(host, port) == expected


@pytest.mark.parametrize("host", ["127.0.0.1.neetocal.com", "[::1].neetocal.com", "127.0.0.1.NEETOCAL.COM."])
def test_a_loopback_address_under_the_neetocal_domain_is_refused_not_rewritten_to_http(host: str) -> None:
    error = refusal(host, 8765)

    assert error.field == "host"
    assert "is not a workspace subdomain" in str(error)
    assert "expected a DNS label" in str(error)


def test_the_sandbox_is_still_reached_through_an_explicit_loopback_host_or_base_url() -> None:
    assert api_root_url("http://127.0.0.1:8765") == "http://127.0.0.1:8765/api/external/v1"
    assert api_root_url("127.0.0.1", 8765) == "http://127.0.0.1:8765/api/external/v1"
    assert api_root_url("acme", None, "http://127.0.0.1:8765") == "http://127.0.0.1:8765/api/external/v1"


@pytest.mark.parametrize("name", ["localhost", "LocalHost", "127.0.0.1", "127.255.0.9", "::1", "[::1]"])
def test_is_loopback(name: str) -> None:
    assert is_loopback(name)


@pytest.mark.parametrize(
    "name",
    ["10.0.0.1", "0.0.0.0", "::", "localhost.example.com", "example.com", "192.168.1.1", "::1%eth0"],
)
def test_is_not_loopback(name: str) -> None:
    assert not is_loopback(name)


@pytest.mark.parametrize("name", ["sandbox.localhost", "api.LOCALHOST", ":.localhost", "a.b.localhost"])
def test_names_under_localhost_are_not_loopback_because_they_go_through_dns(name: str) -> None:
    assert not is_loopback(name)


@pytest.mark.parametrize("host", ["sandbox.localhost", ":.LOCALHOST", "[:.localhost]", "::1%eth0"])
def test_host_that_only_looks_like_loopback_is_refused(host: str) -> None:
    error = refusal(host, 8765)

    assert error.field == "host"
    assert "is not a workspace subdomain" in str(error)


@pytest.mark.parametrize("url", ["http://sandbox.localhost:8765", "http://api.localhost"])
def test_plain_http_to_a_name_under_localhost_is_refused_as_clear_text(url: str) -> None:
    assert "would send the API key in clear text" in str(refusal(url))


# --- full URLs (host or the base_url extra) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/api/external/v1"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765/api/external/v1"),
        ("http://localhost:8765", "http://localhost:8765/api/external/v1"),
        ("http://[::1]:8765", "http://[::1]:8765/api/external/v1"),
        ("https://acme.neetocal.com", "https://acme.neetocal.com/api/external/v1"),
        ("HTTPS://Acme.NeetoCal.com", "https://acme.neetocal.com/api/external/v1"),
        ("https://acme.neetocal.com:8443", "https://acme.neetocal.com:8443/api/external/v1"),
        ("https://10.1.2.3", "https://10.1.2.3/api/external/v1"),
        ("  https://acme.neetocal.com  ", "https://acme.neetocal.com/api/external/v1"),
    ],
)
def test_origin_gets_the_api_path(url: str, expected: str) -> None:
    assert api_root_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://proxy.example.com/neetocal", "https://proxy.example.com/neetocal/api/external/v1"),
        ("https://proxy.example.com/neetocal/", "https://proxy.example.com/neetocal/api/external/v1"),
        ("https://proxy.example.com/a/b", "https://proxy.example.com/a/b/api/external/v1"),
    ],
)
def test_path_prefix_is_kept(url: str, expected: str) -> None:
    assert api_root_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "https://acme.neetocal.com/api/external/v1",
        "https://acme.neetocal.com/api/external/v1/",
        "https://acme.neetocal.com/api/external/v1//",
    ],
)
def test_api_path_already_given_is_not_doubled(url: str) -> None:
    assert api_root_url(url) == "https://acme.neetocal.com/api/external/v1"


def test_api_path_after_a_prefix_is_not_doubled() -> None:
    assert (
        api_root_url("https://proxy.example.com/nc/api/external/v1") == "https://proxy.example.com/nc/api/external/v1"
    )


def test_port_argument_is_ignored_when_the_url_carries_its_own() -> None:
    assert api_root_url("http://127.0.0.1:8765", 9999) == "http://127.0.0.1:8765/api/external/v1"


@pytest.mark.parametrize(
    "url", ["http://acme.neetocal.com", "http://example.com:8080", "http://10.0.0.5:8765", "http://[2001:db8::1]"]
)
def test_plain_http_to_another_machine_is_refused_as_clear_text(url: str) -> None:
    error = refusal(url)

    assert error.field == "host"
    assert "plain http://" in str(error)
    assert "would send the API key in clear text" in str(error)
    assert "use https://" in str(error)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://user:secret@acme.neetocal.com", "credentials in the URL are not supported"),
        ("https://key@acme.neetocal.com", "credentials in the URL are not supported"),
        ("https://acme.neetocal.com?token=abc", "has a query or fragment"),
        ("https://acme.neetocal.com/#top", "has a query or fragment"),
        ("ftp://acme.neetocal.com", "scheme 'ftp' is not supported"),
        ("https://", "has no host name"),
        ("https://acme.neetocal.com:port", "is not a valid URL"),
        ("https://acme.neetocal.com:99999", "is not a valid URL"),
        ("https://acme_corp.example.com", "'acme_corp.example.com' is not a valid host name"),
        ("https://-acme.example.com", "is not a valid host name"),
    ],
)
def test_unusable_url_is_refused_saying_why(url: str, says: str) -> None:
    error = refusal(url)

    assert error.field == "host"
    assert says in str(error)


def test_credentials_are_not_echoed_in_the_refusal() -> None:
    assert "secret" not in str(refusal("https://user:secret@acme.neetocal.com"))


# --- the base_url extra ----------------------------------------------------------------------------------


def test_base_url_extra_wins_over_host() -> None:
    assert api_root_url("acme", 443, base_url="http://127.0.0.1:8765") == "http://127.0.0.1:8765/api/external/v1"


def test_base_url_extra_wins_even_over_an_invalid_host() -> None:
    assert api_root_url("not a host!", None, "https://acme.neetocal.com") == "https://acme.neetocal.com/api/external/v1"


@pytest.mark.parametrize("base_url", [None, "", "   "], ids=repr)
def test_blank_base_url_extra_falls_back_to_host(base_url: str | None) -> None:
    assert api_root_url("acme", None, base_url) == "https://acme.neetocal.com/api/external/v1"


def test_bad_base_url_is_refused_naming_base_url() -> None:
    error = refusal("acme", None, "http://proxy.example.com")

    assert error.field == "base_url"
    # The first line says why, in the form's words: the Base URL field uses plain http://.
    assert str(error).startswith(
        "Plain http:// in the connection's Base URL would send the API key in clear text — use https://; nothing sent\n"
    )
    assert "\nbase_url: plain http://" in str(error)


def test_config_error_fails_the_task_without_retries() -> None:
    error = refusal("")

    assert isinstance(error, AirflowFailException)
    assert isinstance(error, ValueError)


# --- each refusal, word for word (what a DAG author reads in the task log) ------------------------------

ORIGIN_EXAMPLE = "an origin such as 'https://acme.neetocal.com' or 'http://127.0.0.1:8765'"


@pytest.mark.parametrize(
    ("host", "base_url", "message"),
    [
        (
            "acme",
            123,
            "Invalid NeetoCal connection base_url: 123 is not text: expected an origin such as "
            "'https://proxy.example.com'",
        ),
        (
            "",
            None,
            "Invalid NeetoCal connection host: empty: set Workspace to your NeetoCal subdomain (e.g. 'acme' for "
            "https://acme.neetocal.com) or to the origin of a NeetoCal-compatible server "
            "(e.g. 'http://127.0.0.1:8765')",
        ),
        (
            "acme corp",
            None,
            "Invalid NeetoCal connection host: 'acme corp' is not a workspace subdomain: expected a DNS label of "
            "letters, digits and hyphens (e.g. 'acme' for https://acme.neetocal.com), or a full URL starting with "
            "https://",
        ),
        (
            "ftp://acme.neetocal.com",
            None,
            f"Invalid NeetoCal connection host: scheme 'ftp' is not supported: expected {ORIGIN_EXAMPLE}",
        ),
        ("https://", None, f"Invalid NeetoCal connection host: 'https://' has no host name: expected {ORIGIN_EXAMPLE}"),
        (
            "https://user:secret@acme.neetocal.com",
            None,
            "Invalid NeetoCal connection host: credentials in the URL are not supported: put the API key in the "
            "connection's password",
        ),
        (
            "https://acme.neetocal.com?token=abc",
            None,
            "Invalid NeetoCal connection host: 'https://acme.neetocal.com?token=abc' has a query or fragment: "
            f"expected {ORIGIN_EXAMPLE}",
        ),
        (
            "http://example.com:8080",
            None,
            "Invalid NeetoCal connection host: plain http:// to 'example.com' would send the API key in clear text: "
            "use https://, or a loopback address (127.0.0.1, localhost) for a local server",
        ),
        (
            "https://acme_corp.example.com",
            None,
            "Invalid NeetoCal connection host: 'acme_corp.example.com' is not a valid host name",
        ),
    ],
    ids=["base_url-not-text", "empty", "not-a-label", "scheme", "no-host", "credentials", "query", "http", "name"],
)
def test_refusal_message_word_for_word(host: str, base_url: object, message: str) -> None:
    with pytest.raises(NeetoCalConfigError) as caught:
        api_root_url(host, None, base_url)

    first, _, details = str(caught.value).partition("\n")
    # One line when it fits the log viewer; else a first line that does, then the problem whole.
    assert len(first) <= 120
    assert (f"Invalid NeetoCal connection {details}" if details else first) == message


# --- boundaries: the largest port, the longest label and host name ----------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("acme", "https://acme.neetocal.com:65535/api/external/v1"),
        ("127.0.0.1", "http://127.0.0.1:65535/api/external/v1"),
    ],
)
def test_port_65535_is_the_largest_accepted(host: str, expected: str) -> None:
    assert api_root_url(host, 65535) == expected


def test_port_1_is_kept() -> None:
    assert api_root_url("127.0.0.1", 1) == "http://127.0.0.1:1/api/external/v1"


def test_host_name_label_of_63_characters_is_accepted_in_a_url() -> None:
    label = "a" * 63

    assert api_root_url(f"https://{label}.example.com") == f"https://{label}.example.com/api/external/v1"


def test_host_name_label_of_64_characters_is_refused_in_a_url() -> None:
    label = "a" * 64

    assert str(refusal(f"https://{label}.example.com")) == (
        "Invalid NeetoCal connection host — fix the connection; nothing was sent\n"
        f"host: '{label}.example.com' is not a valid host name"
    )


def test_host_name_of_253_characters_is_accepted() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])  # 63 * 3 + 61 + 3 dots = 253
    assert len(name) == 253

    assert api_root_url(f"https://{name}") == f"https://{name}/api/external/v1"


def test_host_name_of_254_characters_is_refused() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 62])
    assert len(name) == 254

    assert str(refusal(f"https://{name}")) == (
        "Invalid NeetoCal connection host — fix the connection; nothing was sent\n"
        f"host: {name!r} is not a valid host name"
    )


def test_path_prefix_ending_in_capital_x_is_kept_whole() -> None:
    assert api_root_url("https://proxy.example.com/X") == "https://proxy.example.com/X/api/external/v1"


@pytest.mark.parametrize("name", ["XLOCALHOST", "LOCALHOSTX", "X127.0.0.1", "[localhost]x"])
def test_name_that_only_contains_a_loopback_name_is_not_loopback(name: str) -> None:
    assert not is_loopback(name)
