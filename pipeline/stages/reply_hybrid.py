"""``reply=hybrid`` (the default): grounded templates for task requests, a chat reply for the rest.

Per request, in order, one reply part: a firing template (``TemplateReplier``: the request's template, or the
question for a slot its intent needs) answers it; a sentence whose intent is a chat domain (``chat_domains``)
or ``unknown``, or that has no intent at all, goes to the chat replier (generative or retrieval); consecutive
chat sentences are answered as one turn. A confident task request is never sent to chat: with no template it
gets the fallback line. Only a query where nothing fired and nothing went to chat (no intent stage, no
template for its slots) is answered by the chat replier as a whole.
``unknown: fallback`` keeps ``unknown`` sentences away from chat: they contribute nothing, and a query of only
``unknown`` sentences gets the templates' "please rephrase" line.

The generative chat replier loads its model on the first sentence that goes to chat (``reply_chat.py``), so
queries that templates answer never load it (nor import torch for it); the first chat reply pays the load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pipeline.errors import ConfigError
from pipeline.schema import PipelineResult, Reply, Sentence
from pipeline.stages.reply_chat import GenerativeReplier, RetrievalReplier
from pipeline.stages.reply_template import UNKNOWN, TemplateReplier, is_confident_task


class HybridReplier:
    reads: ClassVar[frozenset[str]] = frozenset({"sentences"})
    writes: ClassVar[frozenset[str]] = frozenset({"reply"})

    def __init__(self, templates: TemplateReplier, chat: GenerativeReplier | RetrievalReplier,
                 chat_domains: Sequence[str] = ("chat",), unknown: str = "chat") -> None:
        if not isinstance(templates, TemplateReplier):
            raise ConfigError("reply.templates must build a TemplateReplier")
        if not hasattr(chat, "answer"):
            raise ConfigError("reply.chat must build a generative or retrieval replier")
        if unknown not in ("chat", "fallback"):
            raise ConfigError(f"reply.unknown: expected chat or fallback, got {unknown!r}")
        self.templates, self.chat = templates, chat
        self.unknown = unknown
        self.chat_domains = frozenset(chat_domains)
        self.joiner = templates.joiner

    def goes_to_chat(self, sent: Sentence) -> bool:
        pred = sent.intent
        if pred is not None and pred.label == UNKNOWN:
            return self.unknown == "chat"
        return pred is None or pred.domain in self.chat_domains

    def plan(self, doc: PipelineResult) -> tuple[list[tuple[str, str | None] | None], list[str]]:
        """Per request a template ``(text, domain)`` or None (a chat part); and the text of each chat part.

        Consecutive chat sentences are one chat part (one turn of small talk cut in two is still one turn);
        a confident task request never goes to chat: without a template it gets the fallback line.
        """
        parts: list[tuple[str, str | None] | None] = []
        chat_texts: list[str] = []
        for sent in doc.sentences:
            filled = self.templates.reply_sentence(sent, doc.query.reference_time)
            if filled is None and self.goes_to_chat(sent):
                if parts and parts[-1] is None:
                    chat_texts[-1] += "，" + sent.text
                else:
                    parts.append(None)  # where this chat reply goes
                    chat_texts.append(sent.text)
            elif filled is not None:
                parts.append(filled)
            elif is_confident_task(sent):
                parts.append((self.templates.fallback, None))
        if not parts:  # no template fired and nothing went to chat: unknown kept away, or no intent stage
            if self.unknown == "fallback" and all(s.intent is not None and s.intent.label == UNKNOWN
                                                  for s in doc.sentences):
                return [(self.templates.fallback, None)], []
            return [None], [doc.query.text]  # the whole query to chat
        return parts, chat_texts

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        plans = [self.plan(d) if d.sentences else ([], []) for d in docs]
        asking = [(d, text) for d, (_, texts) in zip(docs, plans, strict=True) for text in texts]
        answers = iter(self.chat.answer([d for d, _ in asking], [t for _, t in asking]) if asking else [])
        out = []
        for doc, (parts, chat_texts) in zip(docs, plans, strict=True):
            if not doc.sentences:
                out.append(doc.model_copy(update={"reply": None}))
                continue
            chat_replies = [next(answers) for _ in chat_texts]
            chat_iter = iter(chat_replies)
            texts = [p[0] if p is not None else next(chat_iter).text for p in parts]
            domains = {p[1] for p in parts if p is not None}
            text = self.joiner.join(texts)
            if chat_replies:  # any generated or retrieved part makes the reply that kind (not all grounded)
                first = chat_replies[0]
                reply = Reply(text=text, source=first.source, score=first.score)
            elif domains == {None}:  # only the "please rephrase" line
                reply = Reply(text=text, source="fallback")
            else:
                known = domains - {None}
                reply = Reply(text=text, source="template", domain=next(iter(known)) if len(known) == 1 else None)
            out.append(doc.model_copy(update={"reply": reply}))
        return out
