"""What a run computes from fitted models: summaries, trajectories and lineage, phases, evaluation, and the
analyses."""
