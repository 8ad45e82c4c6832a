"""The default pipeline on its default ONNX runtime does not import transformers (it costs seconds at start-up).

The test process warms the session's private ONNX cache with the default pipeline, then a fresh interpreter
builds the same pipeline and answers a template query and a chat query. Only a cold cache may import
transformers (to export).
"""

import json
import subprocess
import sys
from pathlib import Path

from pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys
from pipeline import Pipeline
pipe = Pipeline.from_config()
replies = [pipe(text).reply.source for text in sys.argv[1:]]
print(json.dumps({"replies": replies, "transformers": "transformers" in sys.modules,
                  "modeling": sorted(m for m in sys.modules if m.endswith(".modeling"))}))
"""


def test_default_pipeline_on_a_warm_cache_never_imports_transformers():
    texts = ["明天北京天气怎么样", "你好呀今天过得怎么样"]
    warm = Pipeline.from_config()
    expected = [warm(t).reply.source for t in texts]
    assert expected[0] == "template" and expected[1] != "template"  # both reply paths are exercised
    out = subprocess.run([sys.executable, "-c", CHILD, *texts], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child == {"replies": expected, "transformers": False, "modeling": []}
