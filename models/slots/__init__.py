"""The learned slot tagger: a character BIO tagger over the encoder with gazetteer tags fused in by a gate."""
