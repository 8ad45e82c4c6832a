"""``reply=hybrid`` (the default): grounded templates for task requests, a chat reply for the rest.

Per sentence: a firing template (``TemplateReplier``: the task domain's slots are filled) answers it; a
sentence whose intent is a chat domain (``chat_domains``) or ``unknown``, or that has no intent at all, goes
to the chat replier (generative or retrieval). The chat sentences of a query are answered together, with one
reply placed where the first of them stood. A query where nothing fired and nothing went to chat (a task
request whose slots are missing) is answered by the chat replier as a whole: generation is the fallback.
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
from pipeline.stages.reply import TemplateReplier
from pipeline.stages.reply_chat import GenerativeReplier, RetrievalReplier

UNKNOWN = "unknown"


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

    def plan(self, doc: PipelineResult) -> tuple[list[tuple[str, str | None] | None], str | None]:
        """Per sentence a template ``(text, domain)`` or None (chat slot); and the text to send to chat."""
        parts: list[tuple[str, str | None] | None] = []
        chat_texts = []
        for sent in doc.sentences:
            filled = self.templates.reply_sentence(sent)
            if filled is not None:
                parts.append(filled)
            elif self.goes_to_chat(sent):
                if not chat_texts:
                    parts.append(None)  # where the chat reply goes
                chat_texts.append(sent.text)
        if not parts:  # no template fired and nothing went to chat
            if self.unknown == "fallback" and all(s.intent is not None and s.intent.label == UNKNOWN
                                                  for s in doc.sentences):
                return [(self.templates.fallback, None)], None
            return [None], doc.query.text  # fallback: the whole query to chat
        return parts, ("，".join(chat_texts) if chat_texts else None)

    def process(self, docs: Sequence[PipelineResult]) -> list[PipelineResult]:
        plans = [self.plan(d) if d.sentences else ([], None) for d in docs]
        asking = [(d, text) for d, (_, text) in zip(docs, plans, strict=True) if text is not None]
        answers = iter(self.chat.answer([d for d, _ in asking], [t for _, t in asking]) if asking else [])
        out = []
        for doc, (parts, chat_text) in zip(docs, plans, strict=True):
            if not doc.sentences:
                out.append(doc.model_copy(update={"reply": None}))
                continue
            chat_reply = next(answers) if chat_text is not None else None
            # a None part (the chat slot) exists only when chat was asked, so chat_reply is set there
            texts = [p[0] if p is not None else chat_reply.text for p in parts]
            domains = {p[1] for p in parts if p is not None}
            if chat_reply is None and domains == {None}:  # only the "please rephrase" line (unknown: fallback)
                reply = Reply(text=self.joiner.join(texts), source="fallback")
            elif chat_reply is None:
                reply = Reply(text=self.joiner.join(texts), source="template",
                              domain=next(iter(domains)) if len(domains) == 1 else None)
            else:  # any generated or retrieved part makes the reply that kind (it is not all grounded)
                reply = Reply(text=self.joiner.join(texts), source=chat_reply.source, score=chat_reply.score)
            out.append(doc.model_copy(update={"reply": reply}))
        return out
