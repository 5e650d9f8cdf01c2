"""The CLI as a client of running nodes: operator requests signed with an operator key
(RFC 9421, the key listed in each node's config), as Krill's CLI talks to its daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from onereg.core.errors import OneregError
from onereg.federation.httpsig import NodeSigningKey, sign_request
from onereg.http.operator_routes import operator_keyid
from onereg.registry.identity import load_signer


def operator_key(path: Path) -> NodeSigningKey:
    signer = load_signer(path)
    return NodeSigningKey(operator_keyid(signer.verifier().public_key.hex()), signer.private_key)


def operator_post(
    key: NodeSigningKey,
    base_url: str,
    path: str,
    body: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """POST an operator request to a node; its JSON answer, or an error naming the node."""
    data = b"" if body is None else json.dumps(body).encode()
    return operator_upload(key, base_url, path, data, "application/json", timeout)


def operator_upload(
    key: NodeSigningKey,
    base_url: str,
    path: str,
    data: bytes,
    media: str = "application/octet-stream",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """POST raw bytes (a file) as an operator request; the JSON answer."""
    headers = sign_request(key, "POST", path, data)
    if data:
        headers["Content-Type"] = media
    try:
        reply = httpx.post(
            base_url.rstrip("/") + path, content=data, headers=headers, timeout=timeout
        )
    except httpx.HTTPError as exc:
        raise OneregError(f"cannot reach the node at {base_url}: {exc!r}") from None
    try:
        body = reply.json()
    except ValueError:
        body = {"reasons": [reply.text[:300]]}
    if reply.status_code != 200:
        reasons = "; ".join(body.get("reasons", [])) if isinstance(body, dict) else str(body)
        raise OneregError(f"{base_url}{path}: {reply.status_code} {reasons}")
    return dict(body)
