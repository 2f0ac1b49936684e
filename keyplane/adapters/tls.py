"""Which TLS versions a native endpoint setting accepts (KM-CRT-002), said once for every adapter.

Each function maps a setting's value to the oldest TLS version it accepts, as (major, minor), or
None when keyplane does not know the value: the reader then reports it ("cannot judge"), never
passes it. Only the standard library (checkov imports the adapters from its own environment).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

TlsVersion = tuple[int, int]

_TLS10, _TLS11, _TLS12, _TLS13 = (1, 0), (1, 1), (1, 2), (1, 3)

# Elastic Load Balancing predefined policies
# (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html):
# the names that do not carry their oldest version.
_ELB_NAMED: Mapping[str, TlsVersion] = MappingProxyType(
    {
        "ELBSecurityPolicy-2016-08": _TLS10,
        "ELBSecurityPolicy-2015-05": _TLS10,
        "ELBSecurityPolicy-FS-2018-06": _TLS10,
    }
)
# The others name it: ELBSecurityPolicy-TLS-1-2-2017-01, ELBSecurityPolicy-FS-1-1-2019-08,
# ELBSecurityPolicy-TLS13-1-2-Res-2021-06, ELBSecurityPolicy-TLS13-1-0-2021-06, ...
_ELB_VERSIONED = re.compile(r"ELBSecurityPolicy-(?:TLS13|TLS|FS)-1-([0-3])-[A-Za-z0-9-]+")

#: What an HTTPS or TLS listener without `sslPolicy` gets from the API (Terraform's and the
#: CLI's default; the console picks a newer one).
ELB_DEFAULT_POLICY = "ELBSecurityPolicy-2016-08"


def elb_policy(name: str) -> TlsVersion | None:
    """The oldest version an Elastic Load Balancing security policy accepts."""
    if name in _ELB_NAMED:
        return _ELB_NAMED[name]
    match = _ELB_VERSIONED.fullmatch(name)
    return (1, int(match.group(1))) if match else None


# CloudFront viewer certificate minimumProtocolVersion
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/secure-connections-supported-viewer-protocols-ciphers.html).
_CLOUDFRONT: Mapping[str, TlsVersion] = MappingProxyType(
    {"SSLv3": (0, 3), "TLSv1": _TLS10, "TLSv1_2016": _TLS10, "TLSv1.1_2016": _TLS11}
)
_CLOUDFRONT_VERSIONED = re.compile(r"TLSv1\.([23])_20[0-9]{2}")


def cloudfront_minimum(value: str) -> TlsVersion | None:
    if value in _CLOUDFRONT:
        return _CLOUDFRONT[value]
    match = _CLOUDFRONT_VERSIONED.fullmatch(value)
    return (1, int(match.group(1))) if match else None


# API Gateway custom domain securityPolicy: TLS_1_0, TLS_1_2, and the enhanced policies named
# SecurityPolicy_TLS13_1_3_..., SecurityPolicy_TLS13_1_2_..., SecurityPolicy_TLS12_...
_APIGATEWAY_ENHANCED = re.compile(r"SecurityPolicy_TLS1(?:3_1_([23])|2)_[A-Za-z0-9_-]+")


def apigateway_minimum(value: str) -> TlsVersion | None:
    if value == "TLS_1_0":
        return _TLS10
    if value == "TLS_1_2":
        return _TLS12
    match = _APIGATEWAY_ENHANCED.fullmatch(value)
    if match is None:
        return None
    return (1, int(match.group(1))) if match.group(1) else _TLS12


_UNDERSCORED = re.compile(r"TLS_?1_([0-3])")


def gcp_minimum(value: str) -> TlsVersion | None:
    """GCP SSL policy `minTlsVersion` (TLS_1_0 ... TLS_1_3)."""
    match = _UNDERSCORED.fullmatch(value) if value.startswith("TLS_") else None
    return (1, int(match.group(1))) if match else None


def azure_storage_minimum(value: str) -> TlsVersion | None:
    """Azure storage account `minimumTlsVersion` (TLS1_0 ... TLS1_3)."""
    match = re.fullmatch(r"TLS1_([0-3])", value)
    return (1, int(match.group(1))) if match else None


# Application Gateway predefined policies
# (https://learn.microsoft.com/azure/application-gateway/application-gateway-ssl-policy-overview).
_APPGW: Mapping[str, TlsVersion] = MappingProxyType(
    {
        "AppGwSslPolicy20150501": _TLS10,
        "AppGwSslPolicy20170401": _TLS11,
        "AppGwSslPolicy20170401S": _TLS12,
        "AppGwSslPolicy20220101": _TLS12,
        "AppGwSslPolicy20220101S": _TLS12,
    }
)
#: The predefined policy of a gateway without `sslPolicy` from API version 2023-02-01 on (the
#: versions pulumi-azure-native 2 and later use).
APPGW_DEFAULT_POLICY = "AppGwSslPolicy20220101"


def appgw_policy(name: str) -> TlsVersion | None:
    return _APPGW.get(name)


def appgw_protocol(value: str) -> TlsVersion | None:
    """Application Gateway `minProtocolVersion` (TLSv1_0 ... TLSv1_3)."""
    match = re.fullmatch(r"TLSv1_([0-3])", value)
    return (1, int(match.group(1))) if match else None


def version_text(version: TlsVersion) -> str:
    """`TLS 1.2`, `SSL 3.0` (for messages)."""
    major, minor = version
    return f"TLS {major}.{minor}" if major >= 1 else "SSL 3.0"


# --- certificate keys (KM-CRT-001) ---------------------------------------------------------------

# ACM `KeyAlgorithm`: RSA_2048 in the request API (and Pulumi), RSA-2048 in DescribeCertificate.
_ACM_ALGORITHMS: Mapping[str, str] = MappingProxyType(
    {
        "RSA_1024": "RSA-1024",
        "RSA_2048": "RSA-2048",
        "RSA_3072": "RSA-3072",
        "RSA_4096": "RSA-4096",
        "EC_prime256v1": "ECDSA-P256",
        "EC_secp384r1": "ECDSA-P384",
        "EC_secp521r1": "ECDSA-P521",
    }
)
#: ACM's key when a request names none.
ACM_DEFAULT_ALGORITHM = "RSA_2048"
#: The neutral algorithm name -> ACM's (for the components).
ACM_KEY_ALGORITHM: Mapping[str, str] = MappingProxyType({v: k for k, v in _ACM_ALGORITHMS.items()})


def acm_algorithm(value: str) -> str:
    """The neutral name of an ACM key algorithm (`RSA_2048` or `RSA-2048` -> `RSA-2048`); the
    value itself when keyplane does not know it (the rule then names it)."""
    return _ACM_ALGORITHMS.get(value.replace("-", "_"), value)
