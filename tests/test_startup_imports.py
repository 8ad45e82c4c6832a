"""The default pipeline on its default ONNX runtime imports neither transformers nor torch until a sentence
goes to chat, and transformers not even then (the two cost seconds at start-up; ``bench/startup.py``
measures it).

The test process warms the session's private ONNX cache with the default pipeline, then a fresh interpreter
builds the same pipeline, answers a template query, then a chat query. Only a cold cache imports transformers
(to export); the chat replier's tokenizer module imports torch.
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

def loaded():
    return {"torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
            "modeling": sorted(m for m in sys.modules if m.endswith(".modeling"))}

pipe = Pipeline.from_config()
template = pipe(sys.argv[1]).reply.source
after_template = loaded()
chat = pipe(sys.argv[2]).reply.source
print(json.dumps({"replies": [template, chat], "after_template": after_template, "after_chat": loaded()}))
"""


def test_default_pipeline_on_a_warm_cache_imports_torch_only_for_a_chat_reply():
    texts = ["明天北京天气怎么样", "你好呀今天过得怎么样"]
    warm = Pipeline.from_config()
    expected = [warm(t).reply.source for t in texts]
    assert expected[0] == "template" and expected[1] != "template"  # both reply paths are exercised
    out = subprocess.run([sys.executable, "-c", CHILD, *texts], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["replies"] == expected
    assert child["after_template"] == {"torch": False, "transformers": False, "modeling": []}
    assert child["after_chat"]["transformers"] is False and child["after_chat"]["modeling"] == []
    assert child["after_chat"]["torch"] is True  # models/reply/features.py (the reply tokenizer's module)
