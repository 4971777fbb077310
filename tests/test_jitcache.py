"""UMAP's numba kernels are kept on disk (textmine.models.jitcache): a second process loads them instead of
compiling, and the layout it computes is the same to the bit."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# One UMAP fit through textmine's own constructor, in a fresh process; prints a digest of the layout.
FIT = """
import hashlib, json, sys
import numpy as np
from textmine.models.bertopic_model import make_umap, slice_sizes
from textmine.core.config import BertopicConfig
from textmine.models.jitcache import cache_compiled_kernels
config = BertopicConfig()
x = np.random.default_rng(7).normal(size=(200, 16)).astype(np.float32)
layout = make_umap(slice_sizes(len(x), config, 10), config, 42).fit_transform(x)
print(json.dumps({"digest": hashlib.sha256(np.ascontiguousarray(layout).tobytes()).hexdigest(),
                  "turned_on_again": cache_compiled_kernels()}))
"""


def fit_in_fresh_process(numba_cache: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_second_process_loads_kernels_and_computes_the_same_layout(tmp_path):
    numba_cache = tmp_path / "numba"
    first = fit_in_fresh_process(numba_cache)
    written = sorted(p.name for p in numba_cache.rglob("*.nbi"))
    assert any(name.startswith("umap_") or "layouts" in name for name in written), written[:10]
    second = fit_in_fresh_process(numba_cache)
    assert second["digest"] == first["digest"]
    assert first["turned_on_again"] == 0  # once per module and process


def test_turns_caching_on_for_umap_kernels():
    import umap.layouts  # noqa: F401
    from numba.core.caching import NullCache

    from textmine.models.jitcache import cache_compiled_kernels

    cache_compiled_kernels()
    import umap.layouts as layouts
    assert not isinstance(layouts._nb_optimize_layout_euclidean_single_epoch._cache, NullCache)
