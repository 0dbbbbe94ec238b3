"""The client's HTTP sessions take nothing from the environment: no proxy variables, no .netrc, no CA bundle.

`requests` trusts the environment by default: HTTP_PROXY or ALL_PROXY would send the bearer token, the
refresh token and the app secret in plain text to the proxy (the URL check sees only the API's URL), and a
.netrc entry for the API's host would replace the Authorization header. So every session the client sends
with has `trust_env` off, and the one proxy it uses is the explicit PINTEREST_HTTPS_PROXY, for https URLs
only: through it a request is a CONNECT tunnel, so the proxy sees the host name and never a header. Likewise
the CAs it trusts are the default ones (certifi's) or those of the explicit PINTEREST_CA_BUNDLE, never
REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import requests

log = logging.getLogger("pipelines.pinterest")
ENVIRONMENT_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def isolated(session: requests.Session | None = None, https_proxy: str | None = None,
             ca_bundle: str | None = None) -> requests.Session:
    """`session` (or a new one) with the environment ignored and, at most, a proxy for https URLs; a proxy
    set on it for any other scheme is dropped, as plain http would show the proxy every header. With
    `ca_bundle` (a PEM file or a directory of them) it trusts those CAs instead of the default ones."""
    session = session or requests.Session()
    session.trust_env = False
    proxy = https_proxy or session.proxies.get("https")
    session.proxies = {"https": proxy} if proxy else {}
    if ca_bundle:
        session.verify = ca_bundle
    return session


def proxies_set_in(env: Mapping[str, str]) -> tuple[str, ...]:
    """The proxy variables of the environment that are set (the client uses none of them)."""
    return tuple(name for name in ENVIRONMENT_PROXY_VARIABLES if env.get(name))


def warn_about_ignored_proxies(environment_proxies: tuple[str, ...], https_proxy: str | None) -> None:
    """Say so when the environment names a proxy the client will not use (`environment_proxies`: see
    `proxies_set_in`), so that a machine that can reach the API only through it gets a reason instead of a
    bare timeout."""
    if environment_proxies and not https_proxy:
        log.warning("%s is set but not used: pinterest-etl never sends credentials through a proxy from the "
                    "environment. If this machine reaches api.pinterest.com only through a proxy, set "
                    "PINTEREST_HTTPS_PROXY to it (used for https URLs only, through a CONNECT tunnel)",
                    environment_proxies[0])
