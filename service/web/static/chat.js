// Chat page: streams answers from POST /v1/chat/answers (server-sent events: query, sources, delta…,
// near_misses, done, and queue / error when the service sends them). Plain JavaScript, no external code. The conversation lives
// in this page for now (sent as `history` with every question).
"use strict";

const REASONS = {
  no_relevant_source: "Die Suche hat keine passende Stelle gefunden.",
  model_found_no_source: "Die gefundenen Stellen beantworten die Frage nicht.",
  citations_unsupported: "Die Antwort ließ sich durch die gefundenen Stellen nicht belegen.",
  model_output_invalid: "Das Modell hat keine auswertbare Antwort geliefert.",
};

const state = { turns: [], busy: false };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function pages(source) {
  // "(OCR)": the passage was read from a scanned page and may hold misreadings.
  const ocr = source.ocr ? " (OCR)" : "";
  if (!source.page_start) return "–" + ocr;
  if (!source.page_end || source.page_end === source.page_start) return `S. ${source.page_start}${ocr}`;
  return `S. ${source.page_start}–${source.page_end}${ocr}`;
}

function openSource(source) {
  const panel = document.getElementById("source-panel");
  document.getElementById("sp-number").textContent = `[${source.number}]`;
  document.getElementById("sp-title").textContent = source.title;
  document.getElementById("sp-page").textContent = pages(source);
  document.getElementById("sp-section").textContent = (source.section_path || []).join(" › ") || "–";
  document.getElementById("sp-doc").textContent = source.doc_id;
  const revision = document.getElementById("sp-revision");
  revision.textContent = (source.revision || "").slice(0, 12);
  revision.title = source.revision || "";
  document.getElementById("sp-text").textContent = source.text;
  panel.hidden = false;
}

function sourceList(sources, heading, className) {
  const box = el("div", className);
  box.appendChild(el("h4", null, heading));
  const list = el("ol", "source-list");
  for (const source of sources) {
    const item = el("li");
    const button = el("button", "source-link");
    button.type = "button";
    button.dataset.n = source.number;
    button.appendChild(el("span", "chip", String(source.number)));
    button.appendChild(document.createTextNode(" " + source.label + (source.ocr ? " (OCR)" : "")));
    button.addEventListener("click", () => openSource(source));
    item.appendChild(button);
    list.appendChild(item);
  }
  box.appendChild(list);
  return box;
}

// The verified answer with its [n] markers turned into chips that open the source panel.
function renderAnswer(target, text, sources) {
  target.textContent = "";
  const byNumber = new Map(sources.map((s) => [s.number, s]));
  const pattern = /\[(\d+)\]/g;
  let last = 0;
  let match;
  while ((match = pattern.exec(text)) !== null) {
    target.appendChild(document.createTextNode(text.slice(last, match.index)));
    const source = byNumber.get(Number(match[1]));
    const chip = el("button", "chip cite", match[1]);
    chip.type = "button";
    chip.title = source ? source.label : "Quelle nicht gefunden";
    if (source) chip.addEventListener("click", () => openSource(source));
    else chip.disabled = true;
    target.appendChild(chip);
    last = pattern.lastIndex;
  }
  target.appendChild(document.createTextNode(text.slice(last)));
}

function filters() {
  const value = (id) => document.getElementById(id).value;
  const out = {};
  if (value("f-group")) out.working_group = [value("f-group")];
  if (value("f-type")) out.doc_type = [value("f-type")];
  if (value("f-from")) out.date_from = value("f-from");
  if (value("f-to")) out.date_to = value("f-to");
  return out;
}

function newTurnView(question) {
  document.getElementById("empty-hint")?.remove();
  const view = el("article", "turn");
  view.appendChild(el("div", "bubble user", question));
  const reply = el("div", "bubble reply");
  const searched = el("p", "searched");
  searched.hidden = true;
  const status = el("p", "status", "Suche läuft …");
  const answer = el("div", "answer");
  const sources = el("div", "sources");
  reply.append(searched, status, answer, sources);
  view.appendChild(reply);
  document.getElementById("turns").appendChild(view);
  view.scrollIntoView({ block: "end" });
  return { view, searched, status, answer, sources };
}

function showDone(view, result, nearMisses) {
  view.status.hidden = true;
  view.sources.textContent = "";
  if (result.declined) {
    view.answer.textContent = "";
    view.answer.classList.remove("draft");
    view.answer.appendChild(el("p", "declined", "Keine Quelle gefunden"));
    view.answer.appendChild(el("p", "reason", REASONS[result.reason] || ""));
    const near = result.sources.length ? result.sources : nearMisses;
    if (near.length) view.sources.appendChild(sourceList(near, "Ähnliche Stellen", "near-misses"));
    return "";
  }
  view.answer.classList.remove("draft");
  renderAnswer(view.answer, result.answer, result.sources);
  view.sources.appendChild(sourceList(result.citations, "Quellen", "cited"));
  return result.answer.replace(/\s*\[\d+\]/g, "");
}

async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { kind, data: JSON.parse(data.join("\n")) };
    }
  }
}

async function problemText(response) {
  try {
    const body = await response.json();
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After");
      return `Der Dienst ist gerade ausgelastet. Bitte ${wait ? `in ${wait} s ` : ""}erneut versuchen.`;
    }
    return `Fehler (${body.code || response.status}): ${body.detail || ""}`;
  } catch {
    return `Fehler ${response.status}`;
  }
}

async function ask(question) {
  const view = newTurnView(question);
  const body = { question, history: state.turns, stream: true, filters: filters() };
  let answerText = "";
  let nearMisses = [];
  try {
    const response = await fetch("/v1/chat/answers", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      view.status.textContent = await problemText(response);
      view.status.classList.add("error");
      return;
    }
    for await (const event of serverEvents(response)) {
      if (event.kind === "query") {
        view.searched.hidden = false;
        view.searched.textContent = `Gesucht: ${event.data.query}`;
        if (event.data.rewritten) view.searched.classList.add("rewritten");
      } else if (event.kind === "queue") {
        const position = event.data.position ?? event.data.queue_position;
        view.status.textContent = position ? `In der Warteschlange: Position ${position}` : "In der Warteschlange …";
      } else if (event.kind === "sources") {
        view.status.textContent = event.data.length ? "Antwort wird geschrieben …" : "Keine passende Stelle …";
        view.sources.textContent = "";
        if (event.data.length) view.sources.appendChild(sourceList(event.data, "Gefundene Stellen", "found"));
      } else if (event.kind === "delta") {
        view.answer.classList.add("draft");
        view.answer.textContent += event.data.text;
      } else if (event.kind === "near_misses") {
        nearMisses = event.data;
      } else if (event.kind === "done") {
        answerText = showDone(view, event.data, nearMisses);
      } else if (event.kind === "error") {
        view.status.hidden = false;
        view.status.textContent = `Fehler: ${event.data.detail || event.data.message || event.data.code || ""}`;
        view.status.classList.add("error");
      }
    }
  } catch (error) {
    view.status.hidden = false;
    view.status.textContent = `Verbindung unterbrochen: ${error}`;
    view.status.classList.add("error");
    return;
  }
  state.turns.push({ question, answer: answerText });
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const send = document.getElementById("send");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || state.busy) return;
    state.busy = true;
    send.disabled = true;
    input.value = "";
    try {
      await ask(question);
    } finally {
      state.busy = false;
      send.disabled = false;
      input.focus();
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.getElementById("sp-close").addEventListener("click", () => {
    document.getElementById("source-panel").hidden = true;
  });
  document.getElementById("new-chat").addEventListener("click", () => {
    state.turns = [];
    document.getElementById("turns").textContent = "";
    document.getElementById("source-panel").hidden = true;
    input.focus();
  });
});
