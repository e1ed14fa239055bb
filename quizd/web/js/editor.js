// The quiz editor of the host screen: a definition's quiz-level keys and its questions,
// each with the fields of its kind (protocol guide 16.1), saved over the data API
// (POST for a new definition, PUT for a new version of an API one).
//
// The server checks a definition exactly as it checks a file, so the editor does not
// repeat those rules: it sends what was typed and shows each problem of a 422 at its
// field.  A problem's path (`questions[2].answer`) finds its field through the markup:
// the quiz-level fields sit in `[data-path="title"]` boxes, each question is the n-th
// item of #editor-questions and holds `[data-key="answer"]` boxes, a choice list holds
// `[data-index="1"]` rows.  The DOM is the editor's state: there is no second copy.

import { $, LETTERS, el, showScreen } from "./dom.js";

const KINDS = [
  ["single", "Pick one"],
  ["true_false", "True or false"],
  ["multiple", "Pick many"],
  ["type_answer", "Type the answer"],
  ["slider", "Slider"],
  ["poll", "Poll (no right answer)"],
];
const CHOICE_LIMITS = { single: [2, 6], poll: [2, 6], multiple: [2, 8] };
const QUIZ_NUMBERS = ["time_limit_ms", "reveal_ms", "countdown_ms", "points", "streak_bonus"];
const QUIZ_CHECKS = ["allow_late_join", "close_when_all_answered"];

let uid = 0;
/** A fresh element id, so labels and descriptions stay linked whatever the order. */
const nextId = (prefix) => `${prefix}-${++uid}`;

/**
 * The editor screen.  `api` is a DataApi; `onDone()` goes back to the library (after a
 * save too, which it is told about with the saved summary).
 */
export class Editor {
  constructor(api, onDone) {
    this.api = api;
    this.onDone = onDone;
    this.editing = null;  // the id of the API definition being changed; null for a new one
    $("add-question").addEventListener("click", () => {
      const item = this.addQuestion({ kind: "single", choices: ["", ""], answer: 0 });
      item.querySelector("textarea").focus();
    });
    $("editor-cancel").addEventListener("click", () => this.onDone(null));
    $("editor-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
  }

  /** Open the editor on `doc` (GET /api/definitions/{id}), or on a new definition. */
  open(doc = null) {
    this.editing = doc ? doc.id : null;
    this.clearProblems();
    $("editor-saved").textContent = doc ? `Version ${doc.version}` : "";
    $("editor-heading").textContent = doc ? `Edit “${doc.title}”` : "New quiz definition";
    const quiz = doc || { reveal: "on_answer", leaderboard: "live", allow_late_join: true, close_when_all_answered: false };
    $("ed-title").value = quiz.title || "";
    $("ed-id").value = quiz.id || "";
    $("ed-id").readOnly = doc !== null;
    $("ed-reveal").value = quiz.reveal || "on_answer";
    $("ed-leaderboard").value = quiz.leaderboard || "live";
    for (const key of QUIZ_NUMBERS) $(`ed-${key}`).value = quiz[key] ?? "";
    for (const key of QUIZ_CHECKS) $(`ed-${key}`).checked = Boolean(quiz[key]);
    $("editor-questions").replaceChildren();
    const questions = doc ? doc.questions : [{ kind: "single", choices: ["", ""], answer: 0 }];
    for (const question of questions) this.addQuestion(question);
    showScreen("editor");
    $("editor-heading").focus();
  }

  // ---------------------------------------------------------------- questions

  /** Append a question item drawn from `q` (a definition's question table). */
  addQuestion(q) {
    const kind = q.kind || "single";
    const item = el("li", { class: "panel question-item" });
    const legend = el("h4", { class: "question-legend" });
    const kindId = nextId("kind");
    const kindSelect = el("select", { id: kindId, class: "kind" },
      ...KINDS.map(([value, label]) => el("option", { value, selected: value === kind }, label)));
    const textId = nextId("text");
    const body = el("div", { class: "kind-fields" });
    const explanationId = nextId("explanation");
    const limitId = nextId("limit");
    const pointsId = nextId("points");
    const up = el("button", { type: "button", class: "secondary move-up" }, "Move up");
    const down = el("button", { type: "button", class: "secondary move-down" }, "Move down");
    const remove = el("button", { type: "button", class: "danger remove-question" }, "Remove");
    item.append(
      el("div", { class: "row question-head" }, legend, up, down, remove),
      el("div", { class: "field", dataset: { key: "kind" } }, el("label", { for: kindId }, "Kind"), kindSelect),
      el("div", { class: "field", dataset: { key: "text" } }, el("label", { for: textId }, "Question"),
        el("textarea", { id: textId, rows: 2, class: "text" })),
      body,
      el("div", { class: "field", dataset: { key: "explanation" } },
        el("label", { for: explanationId }, "Explanation (shown at the reveal, optional)"),
        el("textarea", { id: explanationId, rows: 2, class: "explanation" })),
      el("div", { class: "field-grid" },
        el("div", { class: "field", dataset: { key: "time_limit_ms" } },
          el("label", { for: limitId }, "Time limit (ms, optional)"),
          el("input", { id: limitId, type: "number", inputmode: "numeric", class: "time_limit_ms" })),
        el("div", { class: "field", dataset: { key: "points" } },
          el("label", { for: pointsId }, "Points (optional)"),
          el("input", { id: pointsId, type: "number", inputmode: "numeric", class: "points" }))));
    item.querySelector(".text").value = q.text || "";
    item.querySelector(".explanation").value = q.explanation || "";
    item.querySelector(".time_limit_ms").value = q.time_limit_ms ?? "";
    item.querySelector(".points").value = q.points ?? "";
    kindSelect.addEventListener("change", () => {
      // The choices typed so far carry over between the kinds that have choices.
      const before = readKindFields(item);
      const kind = kindSelect.value;
      this.drawKind(item, { kind, choices: kind in CHOICE_LIMITS ? before.choices || ["", ""] : undefined, answer: 0 });
    });
    up.addEventListener("click", () => this.move(item, -1, up));
    down.addEventListener("click", () => this.move(item, 1, down));
    remove.addEventListener("click", () => {
      const next = item.nextElementSibling || item.previousElementSibling;
      item.remove();
      this.renumber();
      (next ? next.querySelector(".remove-question") : $("add-question")).focus();
    });
    $("editor-questions").append(item);
    this.drawKind(item, { ...q, kind });
    this.renumber();
    return item;
  }

  move(item, step, button) {
    const list = $("editor-questions");
    const sibling = step < 0 ? item.previousElementSibling : item.nextElementSibling;
    if (!sibling) return;
    list.insertBefore(item, step < 0 ? sibling : sibling.nextElementSibling);
    this.renumber();
    button.focus();
  }

  /** Number the questions and enable only the moves that can happen. */
  renumber() {
    const items = [...$("editor-questions").children];
    items.forEach((item, i) => {
      item.querySelector(".question-legend").textContent = `Question ${i + 1}`;
      item.querySelector(".move-up").disabled = i === 0;
      item.querySelector(".move-down").disabled = i === items.length - 1;
      item.querySelector(".remove-question").setAttribute("aria-label", `Remove question ${i + 1}`);
      item.querySelector(".move-up").setAttribute("aria-label", `Move question ${i + 1} up`);
      item.querySelector(".move-down").setAttribute("aria-label", `Move question ${i + 1} down`);
    });
  }

  /** Draw the fields of `q.kind` into the question `item`. */
  drawKind(item, q) {
    const body = item.querySelector(".kind-fields");
    body.dataset.kind = q.kind;
    // A true/false question's own labels ("Yes" / "No") are kept, though not edited here.
    body.dataset.labels = q.kind === "true_false" && q.choices ? JSON.stringify(q.choices) : "";
    if (q.kind in CHOICE_LIMITS) body.replaceChildren(this.choiceList(q));
    else if (q.kind === "true_false") body.replaceChildren(trueFalse(q));
    else if (q.kind === "type_answer") body.replaceChildren(...typeAnswer(q));
    else body.replaceChildren(slider(q));
  }

  /** Choices with their correct mark: radios (single), checkboxes (multiple), none (poll). */
  choiceList(q) {
    const [least, most] = CHOICE_LIMITS[q.kind];
    const group = nextId("choices");
    const marks = q.kind === "multiple" ? "answers" : q.kind === "single" ? "answer" : null;
    const picked = new Set(q.kind === "multiple" ? q.answers || [] : [q.answer ?? 0]);
    const rows = el("ol", { class: "choice-rows" });
    const box = el("fieldset", { class: "field choices-field", dataset: { key: "choices" } },
      el("legend", {}, marks === "answers" ? "Choices (tick every correct one)" : marks ? "Choices (mark the correct one)" : "Choices"),
      rows);
    const markBox = marks ? el("div", { class: "field mark-field", dataset: { key: marks } }) : null;
    const add = el("button", { type: "button", class: "secondary add-choice" }, "Add choice");
    const sync = () => {
      const count = rows.children.length;
      [...rows.children].forEach((row, j) => {
        row.dataset.index = String(j);
        row.querySelector(".letter").textContent = LETTERS[j];
        row.querySelector(".choice-text").setAttribute("aria-label", `Choice ${LETTERS[j]}`);
        row.querySelector(".remove-choice").setAttribute("aria-label", `Remove choice ${LETTERS[j]}`);
        row.querySelector(".remove-choice").disabled = count <= least;
        const mark = row.querySelector(".correct");
        if (mark) mark.setAttribute("aria-label", `${LETTERS[j]} is correct`);
      });
      add.disabled = count >= most;
    };
    const addRow = (text, correct) => {
      const mark = marks ? el("input", {
        type: marks === "answers" ? "checkbox" : "radio", class: "correct", name: group, checked: correct,
      }) : null;
      const remove = el("button", { type: "button", class: "secondary remove-choice" }, "×");
      const row = el("li", { class: "choice-row" }, el("span", { class: "letter", "aria-hidden": "true" }),
        el("input", { type: "text", class: "choice-text", autocomplete: "off" }), mark, remove);
      row.querySelector(".choice-text").value = text;
      remove.addEventListener("click", () => {
        const wasChecked = mark && mark.checked;
        row.remove();
        if (wasChecked && marks === "answer") rows.querySelector(".correct").checked = true;
        sync();
        add.focus();
      });
      rows.append(row);
    };
    (q.choices && q.choices.length ? q.choices : ["", ""]).forEach((text, j) => addRow(text, picked.has(j)));
    add.addEventListener("click", () => {
      addRow("", false);
      sync();
      rows.lastElementChild.querySelector(".choice-text").focus();
    });
    sync();
    // The mark box only carries the problems of `answer` / `answers` (the marks sit in the rows).
    return el("div", {}, box, add, markBox);
  }

  // ---------------------------------------------------------------- saving

  /** The definition the form describes, as the JSON body of POST/PUT. */
  document() {
    const doc = { id: $("ed-id").value.trim(), title: $("ed-title").value.trim(),
      reveal: $("ed-reveal").value, leaderboard: $("ed-leaderboard").value };
    for (const key of QUIZ_NUMBERS) setNumber(doc, key, $(`ed-${key}`).value);
    for (const key of QUIZ_CHECKS) doc[key] = $(`ed-${key}`).checked;
    doc.questions = [...$("editor-questions").children].map((item) => {
      const q = { kind: item.querySelector(".kind").value, text: item.querySelector(".text").value.trim(),
        ...readKindFields(item) };
      const explanation = item.querySelector(".explanation").value.trim();
      if (explanation) q.explanation = explanation;
      setNumber(q, "time_limit_ms", item.querySelector(".time_limit_ms").value);
      setNumber(q, "points", item.querySelector(".points").value);
      return q;
    });
    return doc;
  }

  async save() {
    const button = $("save-definition");
    button.disabled = true;
    this.clearProblems();
    $("editor-saved").textContent = "Saving…";
    try {
      const doc = this.document();
      const saved = this.editing
        ? await this.api.json("PUT", `/api/definitions/${encodeURIComponent(this.editing)}`, doc)
        : await this.api.json("POST", "/api/definitions", doc);
      this.editing = saved.id;
      $("ed-id").readOnly = true;
      $("editor-heading").textContent = `Edit “${saved.title}”`;
      $("editor-saved").textContent = `Saved: version ${saved.version}`;
    } catch (error) {
      $("editor-saved").textContent = "";
      const problems = error.details && error.details.problems;
      this.showProblems(problems && problems.length ? problems : [{ path: "", problem: error.message }], error.message);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- problems

  clearProblems() {
    $("editor-summary").hidden = true;
    $("editor-summary-list").replaceChildren();
    for (const message of document.querySelectorAll("#editor-form .field-error")) message.remove();
    for (const field of document.querySelectorAll("#editor-form [aria-invalid]")) {
      field.removeAttribute("aria-invalid");
      const rest = (field.getAttribute("aria-describedby") || "").split(" ")
        .filter((id) => id && !id.startsWith("problem-"));
      if (rest.length) field.setAttribute("aria-describedby", rest.join(" "));
      else field.removeAttribute("aria-describedby");
    }
  }

  /** Each problem at its field (aria-invalid, a message linked by aria-describedby),
   * and all of them in the summary at the top, each a link to its field. */
  showProblems(problems, title) {
    const items = problems.map(({ path, problem }) => {
      const target = this.fieldOf(path);
      const messageId = nextId("problem");
      const text = path ? `${describePath(path)}: ${problem}` : problem;
      if (target) {
        if (!target.control.id) target.control.id = nextId("control");
        target.box.append(el("p", { id: messageId, class: "field-error" }, problem));
        target.control.setAttribute("aria-invalid", "true");
        const described = target.control.getAttribute("aria-describedby");
        target.control.setAttribute("aria-describedby", described ? `${described} ${messageId}` : messageId);
      }
      const link = target
        ? el("a", { href: `#${target.control.id}`, dataset: { path } }, text)
        : el("span", { dataset: { path } }, text);
      if (target) {
        link.addEventListener("click", (event) => {
          event.preventDefault();
          target.control.focus();
        });
      }
      return el("li", {}, link);
    });
    $("editor-summary-title").textContent = problems.length === 1
      ? "The quiz was not saved: 1 problem." : `The quiz was not saved: ${problems.length} problems.`;
    if (!problems.some((p) => p.path)) $("editor-summary-title").textContent = `The quiz was not saved: ${title}`;
    $("editor-summary-list").replaceChildren(...items);
    $("editor-summary").hidden = false;
    $("editor-summary").focus();
  }

  /** The box and the focusable control a problem's path names, or null: the nearest
   * enclosing field when the exact one is not drawn (`questions[1].choices[7]`). */
  fieldOf(path) {
    const match = /^questions\[(\d+)\](?:\.(\w+)(?:\[(\d+)\])?)?/.exec(path);
    let box = null;
    if (match) {
      const item = $("editor-questions").children[Number(match[1])];
      if (!item) return fieldBox(document.querySelector('#editor-form [data-path="questions"]'));
      const key = match[2];
      box = key ? item.querySelector(`[data-key="${key}"]`) : null;
      if (box && match[3] !== undefined) {
        const row = box.querySelector(`[data-index="${match[3]}"]`);
        if (row) return { box: row, control: row.querySelector("input") };
      }
      if (!box && key === "answer") box = item.querySelector('[data-key="answer"], [data-key="answers"]');
      if (!box) box = item.querySelector('[data-key="text"]');
      // The correct marks of a choice list sit in its rows: the first one takes the problem.
      if (box.classList.contains("mark-field")) return { box, control: item.querySelector(".correct") };
    } else {
      box = document.querySelector(`#editor-form [data-path="${path.split(/[.[]/)[0]}"]`);
    }
    return fieldBox(box);
  }
}

/** A field box's control: its first input, select or textarea (a radio group's first radio). */
function fieldBox(box) {
  if (!box) return null;
  const control = box.querySelector("input:not([type=hidden]), select, textarea");
  if (control) {
    if (!control.id) control.id = nextId("control");
    return { box, control };
  }
  // A box with no control of its own (the list of questions, a mark box): its heading
  // or the box itself takes focus.
  if (!box.id) box.id = nextId("box");
  box.tabIndex = -1;
  return { box, control: box };
}

/** `questions[2].answer` as a person reads it: "Question 3, answer". */
function describePath(path) {
  const match = /^questions\[(\d+)\](?:\.(.*))?$/.exec(path);
  if (!match) return path;
  return match[2] ? `Question ${Number(match[1]) + 1}, ${match[2].replaceAll("_", " ")}` : `Question ${Number(match[1]) + 1}`;
}

/** Set `doc[key]` to the number typed, leaving it out when the field is empty (the
 * server's default, or its "is required") and sending a non-number as typed (its problem). */
function setNumber(doc, key, raw) {
  const text = String(raw).trim();
  if (text === "") return;
  const number = Number(text);
  doc[key] = Number.isFinite(number) ? number : text;
}

function trueFalse(q) {
  const name = nextId("tf");
  const answer = q.answer === undefined ? true : q.answer === true || q.answer === 0;
  const option = (value, label) => el("label", { class: "check" },
    el("input", { type: "radio", name, value: String(value), class: "tf", checked: answer === value }), ` ${label}`);
  return el("fieldset", { class: "field", dataset: { key: "answer" } },
    el("legend", {}, "The statement is"), option(true, "True"), option(false, "False"));
}

function typeAnswer(q) {
  const acceptedId = nextId("accepted");
  const hintId = nextId("accepted-hint");
  const accepted = el("textarea", { id: acceptedId, rows: 3, class: "accepted", "aria-describedby": hintId });
  accepted.value = (q.accepted || []).join("\n");
  return [
    el("div", { class: "field", dataset: { key: "accepted" } },
      el("label", { for: acceptedId }, "Accepted answers"),
      el("p", { id: hintId, class: "muted hint" }, "One per line; case and spacing do not matter."),
      accepted),
    el("div", { class: "field", dataset: { key: "typo_tolerance" } },
      el("label", { class: "check" },
        el("input", { type: "checkbox", class: "typo_tolerance", checked: Boolean(q.typo_tolerance) }),
        " Forgive one typo (answers of 5 letters or more)")),
  ];
}

const SLIDER_KEYS = [["min", "Minimum"], ["max", "Maximum"], ["step", "Step"], ["answer", "Answer"], ["tolerance", "Tolerance"]];

function slider(q) {
  return el("div", { class: "field-grid" }, ...SLIDER_KEYS.map(([key, label]) => {
    const id = nextId(key);
    const input = el("input", { id, type: "number", step: "any", inputmode: "decimal", class: `slider-${key}` });
    input.value = q[key] ?? (key === "tolerance" ? 0 : "");
    return el("div", { class: "field", dataset: { key } }, el("label", { for: id }, label), input);
  }));
}

/** The kind's own keys of a question item, as the definition has them. */
function readKindFields(item) {
  const body = item.querySelector(".kind-fields");
  const kind = body.dataset.kind;
  if (kind in CHOICE_LIMITS) {
    const rows = [...body.querySelectorAll(".choice-row")];
    const out = { choices: rows.map((row) => row.querySelector(".choice-text").value.trim()) };
    const marked = rows.map((row, j) => (row.querySelector(".correct")?.checked ? j : -1)).filter((j) => j >= 0);
    if (kind === "single" && marked.length) out.answer = marked[0];
    if (kind === "multiple") out.answers = marked;
    return out;
  }
  if (kind === "true_false") {
    const picked = body.querySelector(".tf:checked");
    const out = picked ? { answer: picked.value === "true" } : {};
    if (body.dataset.labels) out.choices = JSON.parse(body.dataset.labels);
    return out;
  }
  if (kind === "type_answer") {
    return {
      accepted: body.querySelector(".accepted").value.split("\n").map((line) => line.trim()).filter(Boolean),
      typo_tolerance: body.querySelector(".typo_tolerance").checked,
    };
  }
  const out = {};
  for (const [key] of SLIDER_KEYS) setNumber(out, key, body.querySelector(`.slider-${key}`).value);
  return out;
}
