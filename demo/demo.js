// duihua demo: POST /v1/parse, then draw every stage of the PipelineResult. Plain DOM, no dependencies.
"use strict";

const EXAMPLES = ["我想听周杰伦的稻香", "明天北京天气怎么样", "帮我订一张去上海的火车票", "你好呀今天过得怎么样"];

// DOM helper: el("div", {class: "x"}, child, "text") — text always goes in as text, never as HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "style") Object.assign(node.style, value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// One stable colour per slot type, from its name (so a new lexicon needs no palette entry).
function slotHue(slot) {
  let h = 0;
  for (const ch of slot) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}
function slotStyle(slot) {
  const hue = slotHue(slot);
  return {background: `hsl(${hue} 85% 88%)`, borderColor: `hsl(${hue} 60% 45%)`};
}

// Where a slot came from: the tagger (with its confidence), a lexicon entry, a normalized value, or both.
function slotOrigin(m) {
  const parts = [m.source];
  if (m.score !== null && m.score !== undefined) parts.push(`p=${m.score.toFixed(2)}`);
  if (m.entity && m.entity !== m.slot) parts.push(`lexicon type ${m.entity}`);
  return parts.join(", ");
}

// The sentence with resolved slots as highlighted spans (offsets are into the sentence text).
function highlighted(sentence) {
  const out = el("p", {class: "highlighted"});
  let at = 0;
  for (const m of sentence.slots) {
    if (m.start > at) out.append(sentence.text.slice(at, m.start));
    const title = `${m.slot} = ${m.value}  (${slotOrigin(m)})`;
    out.append(el("mark", {class: "slot", dataset: {slot: m.slot, entity: m.entity || "", value: m.value,
                                                     source: m.source}, title, style: slotStyle(m.slot)},
      el("span", {class: "slot-text"}, sentence.text.slice(m.start, m.end)), el("sub", {class: "slot-type"}, m.slot)));
    at = m.end;
  }
  if (at < sentence.text.length) out.append(sentence.text.slice(at));
  return out;
}

function tokenRows(sentence) {
  const rows = el("div", {class: "tokens"});
  for (const granularity of ["coarse", "fine"]) {
    const tokens = sentence.tokens[granularity];
    if (!tokens) continue;
    rows.append(el("div", {class: "token-row", dataset: {granularity}},
      el("span", {class: "row-label"}, granularity),
      tokens.map(t => el("span", {class: "token", title: `${t.start}–${t.end}`}, t.text))));
  }
  return rows;
}

// The fusion gate per character (models/intent): g = 1 means the intent model used the text only there, lower g
// means it leaned on the gazetteer tags. The heat is 1 - g, full colour from g <= 0.5.
function gateStrip(sentence) {
  const gates = sentence.intent && sentence.intent.gates;
  if (!gates) return null;
  const strip = el("div", {class: "gates"});
  [...sentence.text].forEach((ch, i) => {
    const g = gates[i] ?? 1;
    const heat = Math.min(1, Math.max(0, (1 - g) / 0.5));
    strip.append(el("span", {class: "gate", title: `${ch}: gate g = ${g.toFixed(3)}`, dataset: {gate: g.toFixed(3)},
      style: {background: `rgba(214, 69, 65, ${heat.toFixed(3)})`, color: heat > 0.6 ? "#fff" : "#222"}}, ch));
  });
  const lo = Math.min(...gates), hi = Math.max(...gates);
  return el("div", {class: "gate-box"},
    el("span", {class: "row-label"}, "gate"), strip,
    el("span", {class: "legend"}, "g = 1 text only ", el("span", {class: "ramp"}),
       ` g ≤ 0.5 gazetteer tags (here ${lo.toFixed(2)}–${hi.toFixed(2)})`));
}

function intentView(intent) {
  if (!intent) return el("p", {class: "note"}, "no intent stage");
  const bars = el("div", {class: "topk"});
  for (const s of intent.top_k) {
    const pct = (100 * s.score).toFixed(1);
    bars.append(el("div", {class: "bar-row"},
      el("span", {class: "bar-label"}, s.label),
      el("span", {class: "bar"}, el("span", {class: "fill", style: {width: `${pct}%`}})),
      el("span", {class: "bar-value"}, `${pct}%`)));
  }
  return el("div", {class: "intent"},
    el("p", {}, "intent ", el("strong", {class: "intent-label"}, intent.label),
      el("span", {class: "score"}, ` ${(100 * intent.score).toFixed(1)}%`),
      intent.domain !== intent.label ? el("span", {class: "note"}, `  domain ${intent.domain}`) : null),
    bars);
}

function sentenceCard(sentence, index) {
  const slots = el("ul", {class: "slot-list"},
    sentence.slots.map(m => el("li", {}, el("span", {class: "chip", style: slotStyle(m.slot)}, m.slot), " ",
      m.surface, m.value !== m.surface ? ` → ${m.value}` : "",
      el("span", {class: "note slot-source"}, `  ${slotOrigin(m)}`))));
  return el("article", {class: "panel sentence", dataset: {index}},
    el("h2", {}, `Sentence ${index + 1}`, el("span", {class: "note"}, `  chars ${sentence.start}–${sentence.end}`)),
    highlighted(sentence),
    sentence.slots.length ? slots : el("p", {class: "note"}, "no slots"),
    tokenRows(sentence),
    gateStrip(sentence),
    intentView(sentence.intent));
}

function latencyView(result, totalMs) {
  const box = document.getElementById("latency");
  box.replaceChildren();
  const stages = Object.entries(result.timings_ms);
  const max = Math.max(1, ...stages.map(([, ms]) => ms));
  for (const [stage, ms] of stages) {
    box.append(el("div", {class: "bar-row"},
      el("span", {class: "bar-label"}, stage),
      el("span", {class: "bar"}, el("span", {class: "fill latency", style: {width: `${(100 * ms / max).toFixed(1)}%`}})),
      el("span", {class: "bar-value"}, `${ms.toFixed(1)} ms`)));
  }
  box.append(el("p", {class: "note"}, `round trip ${totalMs.toFixed(0)} ms (network, queue and JSON included)`));
}

function render(result, totalMs) {
  const sentences = document.getElementById("sentences");
  sentences.replaceChildren(...result.sentences.map(sentenceCard));
  if (!result.sentences.length) sentences.append(el("p", {class: "note"}, "empty input: no sentences"));
  const replyBox = document.getElementById("reply-box");
  replyBox.hidden = !result.reply;
  if (result.reply) {
    document.getElementById("reply").replaceChildren(result.reply.text,
      el("span", {class: "note"}, `  (${result.reply.source}${result.reply.domain ? ", " + result.reply.domain : ""})`));
  }
  document.getElementById("latency-box").hidden = false;
  latencyView(result, totalMs);
}

async function parse(text) {
  const status = document.getElementById("status");
  status.textContent = "parsing…";
  status.className = "";
  const t0 = performance.now();
  try {
    const res = await fetch("/v1/parse", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify({text})});
    const body = await res.json();
    if (!res.ok) throw new Error(`${res.status}: ${body.error || JSON.stringify(body)}`);
    render(body, performance.now() - t0);
    status.textContent = `${body.sentences.length} sentence(s), stages: ${body.stages.join(" → ")}`;
  } catch (err) {
    status.textContent = `error ${err.message}`;
    status.className = "error";
  }
}

document.getElementById("ask").addEventListener("submit", ev => {
  ev.preventDefault();
  parse(document.getElementById("query").value);
});
document.getElementById("query").addEventListener("keydown", ev => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    parse(ev.target.value);
  }
});
const examples = document.getElementById("examples");
for (const text of EXAMPLES) {
  examples.append(el("button", {type: "button", class: "example"}, text));
  examples.lastChild.addEventListener("click", () => {
    document.getElementById("query").value = text;
    parse(text);
  });
}
