"""The encoder's pre-training: a train command only (no pipeline stage runs it)."""

from pipeline.tasks import StageTask

TASK = StageTask("pretrain", {"pretrain": "models.encoder.pretrain:train"})
