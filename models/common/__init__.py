"""Shared training infrastructure: every stage trains through ``run_training`` (HF Trainer), none writes a loop."""
