"""duihua (对话): Chinese dialogue NLU — split, segment, tag slots, classify intent, reply.

Public API::

    from pipeline import Pipeline
    pipe = Pipeline.from_config(overrides=["lexicons=[music,location]"])
    result = pipe("明天北京天气怎么样我想听周杰伦的稻香")
    results = pipe.batch(["打开qq", "播放稻香"])
"""

from pipeline.errors import ConfigError, DuihuaError, InputError, LexiconError
from pipeline.pipeline import Pipeline
from pipeline.schema import (
    IntentPrediction,
    PipelineResult,
    Query,
    Reply,
    Sentence,
    SlotMatch,
    Token,
)

__all__ = [
    "ConfigError",
    "DuihuaError",
    "InputError",
    "IntentPrediction",
    "LexiconError",
    "Pipeline",
    "PipelineResult",
    "Query",
    "Reply",
    "Sentence",
    "SlotMatch",
    "Token",
]
__version__ = "0.1.0"
