"""Ids shared by the slot-tag features (``models.intent.features``) and the fusion head that embeds them
(``models.common.slot_fusion``), in a module without torch so the ONNX path can import them."""

PAD_TYPE = 0  # slot-type id of padding tags: the fusion embedding's padding_idx
