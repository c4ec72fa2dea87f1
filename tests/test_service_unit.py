"""packaging/flowrt.service: what the issue asks of it, and `systemd-analyze verify` accepts it
(as shipped, and with the capability lines uncommented for a port below 1024)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

UNIT = REPO / "packaging" / "flowrt.service"
README_BINARY = "/opt/flowrt/bin/flowrt"


def settings(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(
        strict=False,
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        empty_lines_in_values=False,
    )
    parser.optionxform = str
    parser.read_string(text)
    return parser


def test_unit_runs_as_its_own_user_in_var_lib_flowrt_without_privileges():
    unit = settings(UNIT.read_text())
    service = unit["Service"]
    assert service["ExecStart"] == f"{README_BINARY} --home /var/lib/flowrt"
    assert service["DynamicUser"] == "yes" and service["User"] == "flowrt"
    assert service["StateDirectory"] == "flowrt"  # systemd makes /var/lib/flowrt
    assert service["Restart"] == "on-failure"
    assert service["CapabilityBoundingSet"] == ""  # no capability by default
    assert "AmbientCapabilities" not in service
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    # the README installs the binary where the unit expects it
    readme = (REPO / "README.md").read_text()
    assert "python3 -m venv /opt/flowrt" in readme and "packaging/flowrt.service" in readme


def _verify(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    # verify checks that ExecStart's program exists: point it at the flowrt installed here
    installed = Path(sys.executable).parent / "flowrt"
    assert installed.is_file()
    unit = tmp_path / "flowrt.service"
    unit.write_text(text.replace(README_BINARY, str(installed)))
    return subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    result = _verify(tmp_path, UNIT.read_text())
    # verify warns (unknown keys, bad values) on stderr with exit status 0: both must be clean
    assert result.returncode == 0 and result.stdout + result.stderr == "", result


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_low_port_variant_verifies_and_grants_only_net_bind_service(tmp_path):
    text = UNIT.read_text()
    low_port = text.replace(
        "#CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"
    )
    low_port = low_port.replace(
        "#AmbientCapabilities=CAP_NET_BIND_SERVICE", "AmbientCapabilities=CAP_NET_BIND_SERVICE"
    )
    assert low_port.count("\nAmbientCapabilities=CAP_NET_BIND_SERVICE") == 1
    result = _verify(tmp_path, low_port)
    assert result.returncode == 0 and result.stdout + result.stderr == "", result


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_verify_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt key is reported."""
    result = _verify(tmp_path, UNIT.read_text().replace("Restart=", "Restrat="))
    assert "Restrat" in result.stdout + result.stderr
