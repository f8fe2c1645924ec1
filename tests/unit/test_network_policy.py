"""k8s/networkpolicy.yaml lets a migration pod reach exactly what a migration needs.

The EKS Pod Identity agent serves credentials at 169.254.170.23 and [fd00:ec2::23], port 80
(EKS User Guide, "Set up the Amazon EKS Pod Identity Agent"): without them the `secret-arn` mode
with Pod Identity cannot read its secret.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

POLICY = yaml.safe_load((ROOT / "k8s" / "networkpolicy.yaml").read_text())


def egress_allows(address: str, port: int, protocol: str = "TCP") -> bool:
    """NetworkPolicy semantics: some egress rule matches both the port and the peer."""

    def port_matches(rule: dict[str, Any]) -> bool:
        ports = rule.get("ports")
        return not ports or any(
            p.get("protocol", "TCP") == protocol and p.get("port") == port for p in ports
        )

    def peer_matches(rule: dict[str, Any]) -> bool:
        peers = rule.get("to")
        return not peers or any(
            "ipBlock" in peer
            and ipaddress.ip_address(address) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
            for peer in peers
        )

    return any(port_matches(r) and peer_matches(r) for r in POLICY["spec"]["egress"])


@pytest.mark.parametrize("agent", ["169.254.170.23", "fd00:ec2::23"])
def test_the_pod_identity_agent_is_reachable(agent: str):
    assert egress_allows(agent, 80)


@pytest.mark.parametrize(
    ("address", "port", "allowed"),
    [
        ("10.0.12.7", 5432, True),  # the database
        ("10.0.0.2", 53, True),  # DNS
        ("52.94.133.131", 443, True),  # AWS APIs over HTTPS
        ("169.254.169.254", 80, False),  # the node's instance metadata: not the pod's identity
        ("93.184.216.34", 80, False),  # plain HTTP anywhere else
        ("169.254.170.23", 8080, False),
    ],
)
def test_nothing_else_is_opened_by_the_pod_identity_rule(address: str, port: int, allowed: bool):
    assert egress_allows(address, port) is allowed


def test_no_traffic_comes_in():
    assert POLICY["spec"]["ingress"] == []
    assert set(POLICY["spec"]["policyTypes"]) == {"Ingress", "Egress"}
