// The host screen's quiz library: the definitions (files read-only, API ones editable
// and deletable, through editor.js), the history of past quizzes with cursor paging, and
// a quiz's report (per question and per player) with its CSV download.  Everything
// comes from the data API (protocol guide 13.7) with the admin token host.js holds.

import { DataApi } from "./dataapi.js";
import { $, LETTERS, el, showScreen } from "./dom.js";
import { Editor } from "./editor.js";

const HISTORY_PAGE = 20;
const KIND_NAMES = {
  single: "Pick one", true_false: "True or false", multiple: "Pick many",
  type_answer: "Type the answer", slider: "Slider", poll: "Poll",
};

/** A time from the API (epoch ms) as this browser writes dates; a dash for none. */
const when = (ms) => (ms === null || ms === undefined ? "—" : new Date(ms).toLocaleString());
const millis = (ms) => (ms === null || ms === undefined ? "—" : `${Math.round(ms)} ms`);

/** What a player answered, from the report's echo object ({choice}, {choices}, {text},
 * {value}); a true/false question's choice 0 is "True". */
function answerText(answer, kind) {
  if (answer.choice !== undefined && kind === "true_false") return answer.choice === 0 ? "True" : "False";
  if (answer.choice !== undefined) return LETTERS[answer.choice] ?? String(answer.choice);
  if (answer.choices !== undefined) return answer.choices.map((i) => LETTERS[i] ?? String(i)).join(", ");
  if (answer.text !== undefined) return `“${answer.text}”`;
  if (answer.value !== undefined) return String(answer.value);
  return JSON.stringify(answer);
}

function correctMark(correct) {
  if (correct === null) return el("span", { class: "mark poll" }, "poll");
  return correct ? el("span", { class: "mark good" }, "✓ correct") : el("span", { class: "mark bad" }, "✗ wrong");
}

/**
 * The library screens.  `token()` returns the admin token (kept by host.js only);
 * `onClose()` goes back to the setup screen.
 */
export class Library {
  constructor(token, onClose) {
    this.api = new DataApi(token);
    this.onClose = onClose;
    this.report = null;  // the quiz id of the report shown
    this.cursor = null;
    this.editor = new Editor(this.api, () => this.open());
    $("library-back").addEventListener("click", () => this.onClose());
    $("new-definition").addEventListener("click", () => this.editor.open());
    $("history-more").addEventListener("click", () => this.guard("library-error", () => this.loadHistory(false)));
    $("report-back").addEventListener("click", () => this.open());
    $("download-csv").addEventListener("click", () => this.guard("report-error", () =>
      this.api.download(`/api/quizzes/${encodeURIComponent(this.report)}/report.csv`, `quiz-${this.report}-report.csv`)));
  }

  /** Run `action`, showing its failure in the alert `errorId`. */
  async guard(errorId, action) {
    $(errorId).textContent = "";
    try {
      await action();
    } catch (error) {
      $(errorId).textContent = error.message;
    }
  }

  /** Show the library: the definitions and the first page of the history. */
  async open() {
    showScreen("library");
    $("library-heading").focus();
    await this.guard("library-error", () => this.loadDefinitions());
    await this.guard("library-error", () => this.loadHistory(true));
  }

  // ---------------------------------------------------------------- definitions

  async loadDefinitions() {
    const definitions = await this.api.json("GET", "/api/definitions");
    $("definitions-table").tBodies[0].replaceChildren(...definitions.map((d) => this.definitionRow(d)));
  }

  definitionRow(d) {
    const file = d.source === "file";
    const actions = el("td", { class: "actions" });
    if (file) {
      actions.append(el("span", { class: "muted" }, "Read-only: edit the file"));
    } else {
      const edit = el("button", { type: "button", class: "secondary edit", "aria-label": `Edit ${d.title}` }, "Edit");
      const remove = el("button", { type: "button", class: "danger delete", "aria-label": `Delete ${d.title}` }, "Delete");
      edit.addEventListener("click", () => this.guard("library-error", async () =>
        this.editor.open(await this.api.json("GET", `/api/definitions/${encodeURIComponent(d.id)}`))));
      remove.addEventListener("click", () => this.confirmDelete(d, actions, remove));
      actions.append(edit, remove);
    }
    return el("tr", { dataset: { definitionId: d.id, source: d.source } },
      el("td", {}, d.title), el("td", {}, el("code", {}, d.id)), el("td", {}, `v${d.version}`),
      el("td", {}, String(d.questionCount)),
      el("td", {}, el("span", { class: `badge ${file ? "file" : "api"}` }, file ? "File (read-only)" : "Editor")),
      actions);
  }

  /** Delete asks inline first, like Kick: a stray click must not lose a quiz. */
  confirmDelete(d, cell, trigger) {
    const yes = el("button", { type: "button", class: "danger delete-confirm" }, `Delete ${d.title}`);
    const no = el("button", { type: "button", class: "secondary" }, "Cancel");
    const box = el("span", { class: "confirm-inline" }, yes, no);
    no.addEventListener("click", () => { box.replaceWith(trigger); trigger.focus(); });
    yes.addEventListener("click", () => this.guard("library-error", async () => {
      yes.disabled = true;
      await this.api.json("DELETE", `/api/definitions/${encodeURIComponent(d.id)}`);
      await this.loadDefinitions();
      $("new-definition").focus();
    }));
    trigger.replaceWith(box);
    yes.focus();
  }

  // ---------------------------------------------------------------- history

  /** The first page (`fresh`) or the next one, newest end first. */
  async loadHistory(fresh) {
    const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
    if (!fresh && this.cursor) query.set("cursor", this.cursor);
    const page = await this.api.json("GET", `/api/history?${query}`);
    const body = $("history-table").tBodies[0];
    const rows = page.items.map((item) => this.historyRow(item));
    if (fresh) body.replaceChildren(...rows);
    else body.append(...rows);
    this.cursor = page.nextCursor;
    $("history-more").hidden = !page.nextCursor;
    $("history-empty").hidden = body.rows.length > 0;
    if (!fresh && rows.length) rows[0].querySelector("button").focus();
  }

  historyRow(item) {
    const open = el("button", { type: "button", class: "secondary open-report",
      "aria-label": `Report of ${item.title} (${item.quizId})` }, "Report");
    open.addEventListener("click", () => this.guard("library-error", () => this.showReport(item.quizId)));
    return el("tr", { dataset: { quizId: item.quizId } },
      el("td", {}, item.title), el("td", {}, el("code", {}, item.quizId)),
      el("td", {}, `${item.definitionId} v${item.definitionVersion}`),
      el("td", {}, when(item.startedAt)), el("td", {}, when(item.endedAt)),
      el("td", { class: "num" }, String(item.players)), el("td", { class: "num" }, String(item.questions)),
      el("td", {}, open));
  }

  // ---------------------------------------------------------------- report

  async showReport(quizId) {
    const report = await this.api.json("GET", `/api/quizzes/${encodeURIComponent(quizId)}/report`);
    this.report = quizId;
    $("report-error").textContent = "";
    $("report-heading").textContent = `Report: ${report.title}`;
    $("report-meta").textContent = `Quiz ${report.quizId} · ${report.definitionId} v${report.definitionVersion}`
      + ` · started ${when(report.startedAt)} · ended ${when(report.endedAt)}`;
    $("report-questions").tBodies[0].replaceChildren(...report.questions.map((q, i) =>
      el("tr", { dataset: { questionId: q.questionId } },
        el("td", { class: "num" }, String(i + 1)), el("td", {}, KIND_NAMES[q.kind] || q.kind), el("td", {}, q.text),
        el("td", { class: "num answered" }, String(q.answered)),
        el("td", { class: "num correct" }, q.kind === "poll" ? "—" : String(q.correctCount)),
        el("td", { class: "num" }, millis(q.avgElapsedMs)))));
    this.renderPlayers(report);
    showScreen("report");
    $("report-heading").focus();
  }

  /** One row per player by rank; one column per question with what they answered. */
  renderPlayers(report) {
    const table = $("report-players");
    table.tHead.rows[0].replaceChildren(
      ...["Rank", "Name", "Score", "Correct"].map((name) => el("th", { scope: "col" }, name)),
      ...report.questions.map((q, i) => el("th", { scope: "col", title: q.text }, `Q${i + 1}`)));
    table.tBodies[0].replaceChildren(...report.players.map((p) => {
      const answers = new Map(p.answers.map((a) => [a.questionId, a]));
      return el("tr", { dataset: { participantId: p.participantId } },
        el("td", { class: "num" }, String(p.rank)), el("th", { scope: "row", class: "name" }, p.name),
        el("td", { class: "num score" }, String(p.score)), el("td", { class: "num" }, String(p.correctCount)),
        ...report.questions.map((q, i) => {
          const a = answers.get(q.questionId);
          if (!a) return el("td", { class: "answer none", dataset: { question: i + 1 } }, "—");
          return el("td", { class: "answer", dataset: { question: i + 1, correct: String(a.correct) } },
            el("span", { class: "given" }, answerText(a.answer, q.kind)), " ", correctMark(a.correct),
            el("span", { class: "detail" }, `${a.points} pts · ${a.elapsedMs} ms`));
        }));
    }));
    $("report-no-players").hidden = report.players.length > 0;
  }
}
