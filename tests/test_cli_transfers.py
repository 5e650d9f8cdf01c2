"""A transfer inside RIPE NCC through the command line: keys, agreement, signatures, execution."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ONEREG = str(Path(sys.executable).parent / "onereg")
LINES = [
    "ripencc|NL|ipv4|193.0.0.0|65536|20100101|allocated|SRC",
    "ripencc|DE|ipv4|194.0.0.0|256|20100101|allocated|DST",
]


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONEREG, "--data-dir", str(data), *args], capture_output=True, text=True, timeout=120
    )


def test_transfer_from_agreement_to_log_entry(tmp_path: Path) -> None:
    data = tmp_path / "data"
    source = tmp_path / "delegated-ripencc-extended-latest"
    source.write_text(
        "\n".join([f"2|ripencc|20181013|{len(LINES)}|19700101|20181013|+0200", *LINES]) + "\n"
    )
    assert _run(data, "import", str(source)).returncode == 0
    for handle in ("SRC", "DST"):
        key = tmp_path / f"{handle}.pem"
        assert _run(data, "holder", "keygen", str(key)).returncode == 0
        assert key.stat().st_mode & 0o077 == 0
        done = _run(
            data,
            "holder",
            "register-key",
            "--registry",
            "ripencc",
            "--handle",
            handle,
            "--key",
            str(key),
        )
        assert done.returncode == 0, done.stderr
    agreement = tmp_path / "a.json"
    done = _run(
        data,
        "agreement",
        "new",
        "193.0.1.0/24",
        "--source",
        "ripencc:SRC",
        "--recipient",
        "ripencc:DST",
        "-o",
        str(agreement),
    )
    assert done.returncode == 0, done.stderr
    unsigned = _run(data, "transfer", str(agreement))
    assert unsigned.returncode == 2 and "has not signed the agreement yet" in unsigned.stderr
    for handle, role in (("SRC", "source"), ("DST", "recipient")):
        signed = _run(
            data,
            "agreement",
            "sign",
            str(agreement),
            "--key",
            str(tmp_path / f"{handle}.pem"),
            "--as",
            role,
        )
        assert signed.returncode == 0, signed.stderr
    done = _run(data, "transfer", str(agreement))
    assert done.returncode == 0, done.stderr
    assert "holder DST" in _run(data, "show", "193.0.1.1").stdout
    assert "holder SRC" in _run(data, "show", "193.0.2.1").stdout
    again = _run(data, "transfer", str(agreement))
    assert again.returncode == 2 and "replay" in again.stderr


def test_the_transfer_appears_in_the_nro_transfer_log(tmp_path: Path) -> None:
    import json

    test_transfer_from_agreement_to_log_entry(tmp_path)
    done = _run(tmp_path / "data", "export", "transfers", "--registry", "ripencc")
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout)
    assert log["version"]["producer"] == "RIPE NCC"
    [record] = log["transfers"]
    assert record["type"] == "RESOURCE_TRANSFER"
    assert record["source_rir"] == record["recipient_rir"] == "RIPE NCC"
    assert record["source_organization"] == {"name": "SRC", "country_code": "NL"}
    assert record["recipient_organization"]["name"] == "DST"
    nets = record["ip4nets"]
    assert nets["transfer_set"] == [
        {
            "start_address": "193.0.1.0",
            "end_address": "193.0.1.255",
            "cidrs": [{"prefix": "193.0.1.0", "length": 24}],
        }
    ]
    assert nets["original_set"][0]["cidrs"] == [{"prefix": "193.0.0.0", "length": 16}]


def test_the_exported_log_validates_against_the_nro_schema(tmp_path: Path) -> None:
    import json

    from onereg.registry.export import transfer_log_problems

    test_transfer_from_agreement_to_log_entry(tmp_path)
    done = _run(tmp_path / "data", "export", "transfers", "--registry", "ripencc")
    log = json.loads(done.stdout)
    assert transfer_log_problems(log) == []
    log["transfers"][0]["type"] = "GIFT"
    del log["version"]["records_interval"]
    problems = transfer_log_problems(log)
    assert any("transfers/0/type" in p for p in problems)
    assert any("records_interval" in p for p in problems)
