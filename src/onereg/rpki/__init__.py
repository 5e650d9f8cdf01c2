"""RPKI: resource certificates, signed objects and their validation (RFC 6480 family).

The relying-party half (decoding, validation, VRP output) lives in ``der``, ``resources``,
``validate``, ``vrp`` and ``show``; the CA and publication half in the ``ca*``, ``objects*`` and
``publish*`` modules.  The two halves meet only through the standard DER formats, so each is a
check on the other.
"""
