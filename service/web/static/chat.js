// Chat page: streams answers from POST /v1/chat/answers (server-sent events: query, sources, short…, delta…,
// near_misses, done, turn, and queue / error when the service sends them). Plain JavaScript, no external code.
// Conversations are stored on the server (/v1/conversations): the page sends only the conversation id, the
// server takes the history from the stored turns. The selected conversation is kept in the address (#c=ID),
// so a reload shows it again. On 401 (token mode without a session) the page goes to the sign-in page.
// "Dokument öffnen" in the source panel opens the cited revision's original file
// (GET /v1/documents/{doc_id}/original?revision=…) in a new tab, a PDF at the passage's page (#page=N); the
// browser sends the session cookie itself. Before it offers the link the page asks for one byte of the file.
"use strict";

const REASONS = {
  no_relevant_source: "Die Suche hat keine passende Stelle gefunden.",
  model_found_no_source: "Die gefundenen Stellen beantworten die Frage nicht.",
  citations_unsupported: "Die Antwort ließ sich durch die gefundenen Stellen nicht belegen.",
  model_output_invalid: "Das Modell hat keine auswertbare Antwort geliefert.",
};

const ORIGINAL_NOT_KEPT =
  "Das Original dieses Dokuments liegt nicht vor: Es wurde eingelesen, bevor Originale aufbewahrt wurden. " +
  "Erneutes Einlesen der Datei holt das nach.";
const ORIGINAL_GONE = "Das Dokument ist nicht mehr vorhanden oder nicht mehr freigegeben.";

// `queued`: questions sent while an answer was still being written; asked in order once it is done.
const state = { conversationId: null, busy: false, panelSource: null, queued: [] };

function showQueued() {
  const note = document.getElementById("queued");
  const n = state.queued.length;
  note.hidden = n === 0;
  note.textContent =
    n === 1
      ? `Wird nach der laufenden Antwort gestellt: „${state.queued[0]}“`
      : `${n} Fragen werden nach der laufenden Antwort gestellt.`;
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

// Every call to the service: JSON, the CSRF token for the session cookie, and 401 → sign-in page.
async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  if (response.status === 401) {
    window.location.href = "/anmelden";
    throw new Error("Anmeldung erforderlich");
  }
  return response;
}

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
  offerOriginal(source);
}

function originalUrl(source) {
  const path = source.doc_id.split("/").map(encodeURIComponent).join("/");
  return `/v1/documents/${path}/original?revision=${encodeURIComponent(source.revision || "")}`;
}

function setOriginalLink(href, tooltip) {
  const link = document.getElementById("sp-open");
  if (href) {
    link.href = href;
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
  } else {
    link.removeAttribute("href");
    link.classList.add("disabled");
    link.setAttribute("aria-disabled", "true");
  }
  link.title = tooltip;
}

// One byte of the original tells whether it is kept (and its type): the link is offered only then.
async function offerOriginal(source) {
  state.panelSource = source;
  setOriginalLink(null, "Original wird gesucht …");
  const url = originalUrl(source);
  let response;
  try {
    response = await fetch(url, { headers: { Range: "bytes=0-0" }, credentials: "same-origin" });
  } catch (error) {
    if (state.panelSource === source) setOriginalLink(null, `Das Original ist gerade nicht erreichbar: ${error}`);
    return;
  }
  if (state.panelSource !== source) return; // another source was opened meanwhile
  if (response.ok) {
    const pdf = (response.headers.get("Content-Type") || "").startsWith("application/pdf");
    const page = pdf && source.page_start ? `#page=${source.page_start}` : "";
    setOriginalLink(url + page, pdf && page ? `Öffnet das PDF auf Seite ${source.page_start}` : "Öffnet das Original");
    return;
  }
  let code = "";
  try {
    code = (await response.json()).code || "";
  } catch {
    code = "";
  }
  if (code === "original_not_kept") setOriginalLink(null, ORIGINAL_NOT_KEPT);
  else if (response.status === 404) setOriginalLink(null, ORIGINAL_GONE);
  else setOriginalLink(null, `Das Original ist gerade nicht abrufbar (Fehler ${response.status}).`);
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
  const short = el("p", "short-answer");
  short.hidden = true;
  const answer = el("div", "answer");
  const sources = el("div", "sources");
  reply.append(searched, status, short, answer, sources);
  view.appendChild(reply);
  document.getElementById("turns").appendChild(view);
  view.scrollIntoView({ block: "end" });
  return { view, reply, searched, status, short, answer, sources };
}

function showDone(view, result, nearMisses) {
  view.status.hidden = true;
  view.sources.textContent = "";
  // The streamed short answer stays only as the service verified it (every word in the checked answer).
  view.short.classList.remove("draft");
  view.short.textContent = result.short_answer || "";
  view.short.hidden = !result.short_answer;
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

function feedbackView(view, turnId, given) {
  const box = el("div", "feedback");
  if (given) {
    box.appendChild(el("span", "thanks", given.helpful ? "Als hilfreich bewertet" : "Als nicht hilfreich bewertet"));
    view.reply.appendChild(box);
    return;
  }
  const comment = el("input");
  comment.type = "text";
  comment.maxLength = 4000;
  comment.placeholder = "Kommentar (optional)";
  comment.setAttribute("aria-label", "Kommentar zur Antwort");
  const send = async (helpful) => {
    const response = await api(`/v1/conversations/${state.conversationId}/turns/${turnId}/feedback`, {
      method: "POST",
      body: JSON.stringify({ helpful, comment: comment.value.trim() || null }),
    });
    box.textContent = "";
    box.appendChild(el("span", "thanks", response.ok ? "Danke für die Rückmeldung" : await problemText(response)));
  };
  const yes = el("button", "secondary fb-yes", "Hilfreich");
  yes.type = "button";
  yes.addEventListener("click", () => send(true));
  const no = el("button", "secondary fb-no", "Nicht hilfreich");
  no.type = "button";
  no.addEventListener("click", () => send(false));
  box.append(yes, no, comment);
  view.reply.appendChild(box);
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
  if (!state.conversationId) {
    const created = await api("/v1/conversations", { method: "POST", body: "{}" });
    if (!created.ok) return;
    selectConversation((await created.json()).id);
  }
  const view = newTurnView(question);
  const body = { question, conversation_id: state.conversationId, stream: true, filters: filters() };
  let nearMisses = [];
  try {
    const response = await api("/v1/chat/answers", {
      method: "POST",
      headers: { Accept: "text/event-stream" },
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
      } else if (event.kind === "short") {
        view.short.hidden = false;
        view.short.classList.add("draft");
        view.short.textContent += event.data.text;
      } else if (event.kind === "delta") {
        view.answer.classList.add("draft");
        view.answer.textContent += event.data.text;
      } else if (event.kind === "near_misses") {
        nearMisses = event.data;
      } else if (event.kind === "done") {
        showDone(view, event.data, nearMisses);
      } else if (event.kind === "turn") {
        feedbackView(view, event.data.turn_id, null);
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
  await loadConversations();
}

function selectConversation(id) {
  state.conversationId = id;
  history.replaceState(null, "", id ? `#c=${id}` : "#");
}

function clearTurns() {
  document.getElementById("turns").textContent = "";
  document.getElementById("source-panel").hidden = true;
}

async function showConversation(id) {
  // Questions waiting for the previous conversation's answer are not carried into another conversation.
  state.queued = [];
  showQueued();
  const response = await api(`/v1/conversations/${id}`);
  if (!response.ok) {
    selectConversation(null);
    return;
  }
  const conversation = await response.json();
  selectConversation(conversation.id);
  clearTurns();
  for (const turn of conversation.turns) {
    const view = newTurnView(turn.question);
    if (turn.searched_query && turn.searched_query !== turn.question) {
      view.searched.hidden = false;
      view.searched.textContent = `Gesucht: ${turn.searched_query}`;
      view.searched.classList.add("rewritten");
    }
    showDone(view, turn, []);
    feedbackView(view, turn.id, turn.feedback);
  }
  await loadConversations();
}

async function loadConversations() {
  const response = await api("/v1/conversations");
  if (!response.ok) return;
  const list = document.getElementById("conversation-list");
  list.textContent = "";
  for (const conversation of await response.json()) {
    const item = el("li", conversation.id === state.conversationId ? "active" : "");
    item.dataset.id = conversation.id;
    const open = el("button", "conv-open", conversation.title);
    open.type = "button";
    open.title = conversation.title;
    open.addEventListener("click", () => showConversation(conversation.id));
    const rename = el("button", "conv-action conv-rename", "✎");
    rename.type = "button";
    rename.title = "Umbenennen";
    rename.setAttribute("aria-label", "Umbenennen");
    rename.addEventListener("click", async () => {
      const title = window.prompt("Neuer Name der Unterhaltung", conversation.title);
      if (!title || !title.trim()) return;
      await api(`/v1/conversations/${conversation.id}`, {
        method: "PATCH",
        body: JSON.stringify({ title: title.trim() }),
      });
      await loadConversations();
    });
    // "×" is in every font; an emoji needs an emoji font, which offline machines often lack (a box instead).
    const remove = el("button", "conv-action conv-delete", "×");
    remove.type = "button";
    remove.title = "Löschen";
    remove.setAttribute("aria-label", "Löschen");
    remove.addEventListener("click", async () => {
      if (!window.confirm(`„${conversation.title}“ löschen?`)) return;
      await api(`/v1/conversations/${conversation.id}`, { method: "DELETE" });
      if (state.conversationId === conversation.id) {
        selectConversation(null);
        clearTurns();
      }
      await loadConversations();
    });
    item.append(open, rename, remove);
    list.appendChild(item);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("ask");
  const input = document.getElementById("question");
  const send = document.getElementById("send");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    input.value = "";
    if (state.busy) {
      // Sent while an answer is still streaming or being stored: asked right after it, not dropped.
      state.queued.push(question);
      showQueued();
      return;
    }
    state.busy = true;
    send.disabled = true;
    try {
      let next = question;
      while (next) {
        try {
          await ask(next);
        } catch (error) {
          // A failed question must not strand the ones queued behind it (ask shows its own errors).
          console.error(error);
        }
        next = state.queued.shift();
        showQueued();
      }
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
  document.getElementById("new-chat").addEventListener("click", async () => {
    state.queued = [];
    showQueued();
    selectConversation(null);
    clearTurns();
    await loadConversations();
    input.focus();
  });
  const selected = /^#c=([0-9a-f]+)$/.exec(window.location.hash);
  if (selected) showConversation(selected[1]);
  else loadConversations();
});
