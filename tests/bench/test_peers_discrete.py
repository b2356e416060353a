"""Smoke test of ``bench/peers_discrete.py --quick``: it exits 0 and prints one record per
measured number in the shared peer format."""

from __future__ import annotations

import math


def test_peers_discrete_quick_prints_peer_records(run_part):
    records = run_part("discrete", "--seeds", "0")
    kls = [r["value"] for r in records if r["metric"] == "pair_kl"]
    assert kls and all(math.isfinite(v) and v >= 0 for v in kls)
    seen = {(r["workload"], r["library"], r["variant"]) for r in records}
    for workload in ("markov16x8-masked", "markov16x8-uniform"):
        for library, variant in (("genmatch", "own"), ("flow_matching", "own"),
                                 ("genmatch", "cross-fm-sampler"),
                                 ("flow_matching", "cross-gm-sampler"),
                                 ("reference", "fresh-samples")):  # fmt: skip
            assert (workload, library, variant) in seen
    assert ("markov16x8-masked", "genmatch", "confidence") in seen
    assert ("markov16x8-masked", "genmatch", "unpinned") in seen
    assert {r["nfe"] for r in records} == {None, 2, 4}
