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


DNS_POD = {
    "namespace": {"kubernetes.io/metadata.name": "kube-system"},
    "pod": {"k8s-app": "kube-dns"},
}


def egress_allows(address: str | dict[str, Any], port: int, protocol: str = "TCP") -> bool:
    """NetworkPolicy semantics: some egress rule matches both the port and the peer (an IP
    address, or a pod given by its namespace's and its own labels)."""

    def port_matches(rule: dict[str, Any]) -> bool:
        ports = rule.get("ports")
        return not ports or any(
            p.get("protocol", "TCP") == protocol and p.get("port") == port for p in ports
        )

    def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
        wanted = (selector or {}).get("matchLabels", {})
        return all(labels.get(k) == v for k, v in wanted.items())

    def peer_matches(rule: dict[str, Any]) -> bool:
        peers = rule.get("to")
        if not peers:
            return True
        if isinstance(address, dict):  # a pod: namespaceSelector and podSelector both match
            return any(
                "ipBlock" not in peer
                and selects(peer.get("namespaceSelector"), address["namespace"])
                and selects(peer.get("podSelector"), address["pod"])
                for peer in peers
            )
        return any(
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
        ("10.0.0.2", 53, False),  # DNS only through the cluster's DNS pods
        ("8.8.8.8", 53, False),
        ("10.0.3.9", 443, True),  # an interface endpoint in the VPC
        ("52.94.133.131", 443, False),  # nothing outside the VPC
        ("203.0.113.7", 5432, False),  # a database outside the database subnets
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


@pytest.mark.parametrize("protocol", ["UDP", "TCP"])
def test_dns_goes_to_the_clusters_dns_pods_only(protocol: str):
    assert egress_allows(DNS_POD, 53, protocol)
    elsewhere = {"namespace": {"kubernetes.io/metadata.name": "migrations"}, "pod": {}}
    assert not egress_allows(elsewhere, 53, protocol)


def test_no_rule_is_open_to_the_whole_internet():
    for rule in POLICY["spec"]["egress"]:
        assert rule.get("to"), f"a rule with no peers allows any address: {rule}"
        for peer in rule["to"]:
            cidr = peer.get("ipBlock", {}).get("cidr")
            assert cidr is None or ipaddress.ip_network(cidr).prefixlen >= 8, cidr


def test_the_policy_holds_every_pod_of_the_namespace_whatever_its_labels():
    """The function's identity may create Jobs with any labels the admission policy admits: a
    selector on a label would leave the others unconfined."""
    assert POLICY["spec"]["podSelector"] == {}
    assert POLICY["metadata"]["namespace"] == "migrations"
    assert set(POLICY["spec"]["policyTypes"]) == {"Ingress", "Egress"}
