"""The explorer URL `onereg up` names is where `onereg serve` puts that registry's explorer."""

from __future__ import annotations

from pathlib import Path

import pytest

from onereg.core.registries import ALL_REGISTRIES, RegistryId
from onereg.federation.embedded import explorer_url, local_config


@pytest.mark.parametrize("rid", ALL_REGISTRIES)
@pytest.mark.parametrize("base_port", [8440, 18440])
def test_explorer_url_is_the_nodes_public_url(
    tmp_path: Path, rid: RegistryId, base_port: int
) -> None:
    served = local_config(tmp_path, rid, base_port, "operator")
    assert explorer_url(rid, base_port) == f"{served.public_url}/ui/"
