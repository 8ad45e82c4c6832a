"""Slot-aware intent classification: a BERT encoder fused with gazetteer slot labels by gated attention."""
