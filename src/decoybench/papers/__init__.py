"""One package per paper (and one for the baselines), each declaring its defense types in
`defense_type.py` (decoybench.defense_registry) and holding what the workflow calls to build
and deploy them."""
