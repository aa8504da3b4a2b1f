"""Run identities: what makes two runs "the same run", for resume and reuse.

A training checkpoint resumes, and `main` reuses a FINISHED run, only when the identity matches:
the entry point, its parameters, the package's source, the data (content hash of the split
manifests, rows in order) and the upstream runs it read.
"""
from __future__ import annotations

import hashlib
import json

import pandas as pd


def fingerprint(*parts: object) -> str:
    """A run's identity: the given parts (entry point, params, data digest, upstream runs) plus
    the code version. Same identity = same result, so checkpoints resume and `main` reuses."""
    from auforget.tracking import code_version

    payload = json.dumps([code_version(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def manifest_digest(*frames: pd.DataFrame) -> str:
    """Content hash of manifests (rows in order), for run identities."""
    h = hashlib.sha256()
    for frame in frames:
        h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return h.hexdigest()[:16]
