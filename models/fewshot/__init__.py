"""Few-shot intent research: cloze-scored classifiers (PET, P-tuning) and a plain text classifier, trained on K
examples per SMP2017 domain. Reached by ``duihua train intent-fewshot`` and ``bench/fewshot.py``; the shipped
intent model (``models/intent``) never imports this package."""
