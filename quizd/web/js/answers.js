// The phone's answer controls for each question kind (protocol 16.1), and what the
// player page says of an answer: the controls of the kinds that are not a single tap
// (toggles and a Submit, a text field, a slider with an exact number field), an answer
// shown back in the controls and in words, and the verdict of an `answer_result`.
//
// play.js decides when to draw and send; this file only knows how each kind looks.

import { $, LETTERS, el } from "./dom.js";
import { formatNumber } from "./reveal.js";

/** "Pick many": the choices are toggles (play.js draws them); a Submit sends the set. */
export function manyControls() {
  return [
    el("p", { id: "pick-hint", class: "muted hint" }, "Pick every right answer, then submit."),
    el("button", { type: "submit", id: "submit-answer", disabled: true, "aria-describedby": "pick-hint" }, "Submit"),
  ];
}

/** `type_answer`: a labelled text field of `maxLength` characters; Enter submits the form. */
export function textControls(question) {
  const field = el("input", { id: "answer-text", type: "text", autocomplete: "off", autocapitalize: "none",
    spellcheck: "false", enterkeyhint: "send", "aria-describedby": "answer-hint" });
  field.maxLength = question.maxLength || 100;
  return [
    el("label", { for: "answer-text" }, "Your answer"),
    el("div", { class: "row answer-row" }, field, el("button", { type: "submit", id: "submit-answer" }, "Submit")),
    el("p", { id: "answer-hint", class: "muted hint" }, `Up to ${field.maxLength} characters; Enter sends it.`),
  ];
}

/** The number of decimals of a step (0.25 -> 2): values are sent rounded to them, so
 * that 0.1 + 0.2 goes out as 0.3, on a step (protocol 16.4). */
export function decimalsOf(step) {
  const text = String(step);
  if (text.includes("e-")) return Number(text.split("e-")[1]);
  return text.includes(".") ? text.split(".")[1].length : 0;
}

/** `slider`: a range input whose value shows as it moves, kept in step with a number
 * field for typing the exact value (and for keyboards that find a range awkward). */
export function sliderControls({ min, max, step }) {
  const bounds = { min: String(min), max: String(max), step: String(step) };
  // Start in the middle, on a step.
  const middle = (min + Math.round((max - min) / step / 2) * step).toFixed(decimalsOf(step));
  const range = el("input", { id: "answer-range", type: "range", ...bounds, "aria-describedby": "answer-value" });
  const number = el("input", { id: "answer-number", type: "number", inputmode: "decimal", ...bounds });
  const shown = el("output", { id: "answer-value", for: "answer-range", class: "slider-value", "aria-live": "off" });
  range.value = middle;
  number.value = middle;
  shown.textContent = middle;
  range.addEventListener("input", () => {
    number.value = range.value;
    shown.textContent = range.value;
  });
  number.addEventListener("input", () => {
    if (number.value !== "" && number.checkValidity()) {
      range.value = number.value;
      shown.textContent = number.value;
    }
  });
  return [
    el("label", { for: "answer-range" }, "Your answer"),
    shown,
    el("div", { class: "slider-row" }, el("span", { "aria-hidden": "true" }, String(min)), range,
      el("span", { "aria-hidden": "true" }, String(max))),
    el("div", { class: "row answer-row" },
      el("label", { for: "answer-number", class: "exact" }, "Exact value"), number,
      el("button", { type: "submit", id: "submit-answer" }, "Submit")),
  ];
}

/** Show `answer` ({choice}, {choices}, {text} or {value}) as this player's in the controls. */
export function showAnswer(answer) {
  const picked = new Set(answer.choices || (answer.choice === undefined ? [] : [answer.choice]));
  for (const button of $("choices").children) {
    button.setAttribute("aria-pressed", String(picked.has(Number(button.dataset.choice))));
  }
  if (answer.text !== undefined && $("answer-text")) $("answer-text").value = answer.text;
  if (answer.value !== undefined && $("answer-range")) {
    for (const id of ["answer-range", "answer-number"]) $(id).value = String(answer.value);
    $("answer-value").textContent = formatNumber(answer.value);
  }
}

/** The answer in words: "B (Mars)", "A (2), C (11)", the typed text, the number; with
 * `lettersOnly` (the question on the big screen only) the choices' letters alone. */
export function answerWords(answer, choices, lettersOnly) {
  const choice = (i) => (lettersOnly ? LETTERS[i] : `${LETTERS[i]} (${choices[i]})`);
  if (answer.choices) return answer.choices.map(choice).join(", ");
  if (answer.choice !== undefined) return choice(answer.choice);
  if (answer.text !== undefined) return answer.text;
  return formatNumber(answer.value);
}

/** The answer's verdict: correct, partly right (a multiple's partial points), wrong, or
 * a poll's vote (`correct: null`, no verdict at all). */
export function verdictOf(result) {
  if (result.correct === null) return { state: "vote", words: "Thanks, your vote is in", said: "Thanks, your vote is in." };
  if (result.correct) return { state: "true", words: "✓ Correct!", said: `Correct, plus ${result.points} points.` };
  if (result.points > 0) {
    return { state: "partly", words: `◐ Partly right: +${result.points}`, said: `Partly right, plus ${result.points} points.` };
  }
  return { state: "false", words: "✗ Wrong", said: "Wrong answer." };
}
