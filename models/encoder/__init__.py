"""The shared encoder: config -> BertModel/BertForMaskedLM, the pre-training corpus and MLM pre-training."""
