// What a reveal (`question_closed`, protocol 16.1) shows beyond the answer counts of the
// choice kinds, drawn the same way on the player page and the host screen: the typed
// answers of a `type_answer` question, the histogram of a `slider`, and the explanation.
//
// The choice kinds (single, true_false, multiple, poll) keep each page's own choice
// list and bars; this file only knows the kinds that have no choices.

import { el } from "./dom.js";

/** The question's kind; a server from before question kinds sends none: `single`. */
export const kindOf = (payload) => payload?.kind || "single";

/** The kinds answered by picking among `choices`. */
export const CHOICE_KINDS = new Set(["single", "true_false", "multiple", "poll"]);

/** The indexes a reveal marks correct: `correctChoices` (multiple), `correctChoice`
 * (single, true_false) or none (a poll's `correctChoice` is null). */
export function correctSet(reveal) {
  if (Array.isArray(reveal.correctChoices)) return new Set(reveal.correctChoices);
  return reveal.correctChoice === null || reveal.correctChoice === undefined ? new Set() : new Set([reveal.correctChoice]);
}

/** A slider number as people write it: the server sends whole numbers as integers. */
export const formatNumber = (value) => (value === null || value === undefined ? "–" : String(value));

/** A bar whose fill is `fraction` (0..1) of its track; the width is set from script
 * because the CSP allows no inline style attributes. */
function bar(fraction) {
  const fill = el("span", { class: "fill" });
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
  return el("span", { class: "track", "aria-hidden": "true" }, fill);
}

/** `type_answer`: the accepted answers as written, then the most given typed answers
 * with their counts (a typed answer that was accepted gets a ✓). */
function typedAnswers(reveal) {
  const accepted = new Set((reveal.accepted || []).map((text) => text.normalize("NFKC").toLowerCase().normalize("NFKC").trim().replace(/\s+/g, " ")));
  const most = Math.max(1, ...reveal.answers.map((a) => a.count));
  return el("div", { class: "typed-reveal" },
    el("p", { class: "accepted" }, "Accepted: ", el("strong", {}, (reveal.accepted || []).join(", "))),
    el("p", { class: "correct-count" }, `${reveal.correctCount} ${reveal.correctCount === 1 ? "player" : "players"} got it right`),
    reveal.answers.length
      ? el("ol", { class: "top-answers", "aria-label": "Most given answers" }, reveal.answers.map((answer) => {
        const right = accepted.has(answer.text);
        return el("li", { dataset: { count: answer.count, correct: String(right) } },
          el("span", { class: "label" }, answer.text, right ? el("span", { class: "tick" }, " ✓",
            el("span", { class: "visually-hidden" }, " accepted")) : null),
          bar(answer.count / most),
          el("span", { class: "count" }, String(answer.count),
            el("span", { class: "visually-hidden" }, answer.count === 1 ? " answer" : " answers")));
      }))
      : el("p", { class: "muted" }, "Nobody typed an answer."));
}

/** `slider`: 10 bins over [min, max], the bin holding the correct value marked, the
 * tolerance band as a stripe under the bins it covers, and the median. */
function sliderHistogram(reveal, question) {
  const { histogram, correctValue, tolerance, median } = reveal;
  const low = Number(question?.min ?? 0);
  const high = Number(question?.max ?? histogram.length);
  const width = (high - low) / histogram.length || 1;
  const binOf = (v) => Math.min(histogram.length - 1, Math.max(0, Math.floor((v - low) / width)));
  const bandFrom = binOf(correctValue - tolerance);
  const bandTo = binOf(correctValue + tolerance);
  const most = Math.max(1, ...histogram);
  const bins = histogram.map((count, i) => {
    const from = low + i * width;
    const range = `${formatNumber(round(from))} to ${formatNumber(round(from + width))}`;
    const fill = el("span", { class: "fill" });
    fill.style.height = `${Math.round((100 * count) / most)}%`;
    return el("li", {
      dataset: { bin: i, count, correct: String(i === binOf(correctValue)), band: String(i >= bandFrom && i <= bandTo) },
      title: `${range}: ${count}`,
    },
    el("span", { class: "count" }, String(count)),
    el("span", { class: "column", "aria-hidden": "true" }, fill),
    el("span", { class: "visually-hidden" }, ` ${count === 1 ? "answer" : "answers"} from ${range}`),
    i === binOf(correctValue) ? el("span", { class: "tick" }, "✓", el("span", { class: "visually-hidden" }, " holds the correct value")) : null);
  });
  const band = tolerance ? ` (±${formatNumber(tolerance)})` : "";
  return el("div", { class: "slider-reveal" },
    el("p", { class: "correct-value" }, "Correct: ", el("strong", {}, formatNumber(correctValue)), band),
    el("ol", { class: "histogram", "aria-label": "How everyone answered, in 10 ranges" }, bins),
    el("p", { class: "histogram-scale", "aria-hidden": "true" },
      el("span", {}, formatNumber(low)), el("span", {}, formatNumber(high))),
    el("p", { class: "median" }, "Median answer: ", el("strong", {}, median === null ? "nobody answered" : formatNumber(median))));
}

/** Bin edges keep a few decimals at most (a step of 0.1 gives widths like 0.30000000000000004). */
const round = (value) => Math.round(value * 1e6) / 1e6;

/** The reveal of a kind without choices, or null for a choice kind (its page draws bars). */
export function kindReveal(reveal, question) {
  const kind = kindOf(reveal.kind ? reveal : question);
  if (kind === "type_answer" && Array.isArray(reveal.answers)) return typedAnswers(reveal);
  if (kind === "slider" && Array.isArray(reveal.histogram)) return sliderHistogram(reveal, question);
  return null;
}

/** Put the reveal's explanation in `box`, hidden when the definition gives none. */
export function showExplanation(box, reveal) {
  box.hidden = !reveal.explanation;
  box.textContent = reveal.explanation || "";
}

/** What the screen reader hears at a reveal: the correct answer in words. */
export function revealAnnouncement(reveal, question, letters) {
  const kind = kindOf(reveal.kind ? reveal : question);
  if (kind === "poll") return "The poll is closed.";
  if (kind === "type_answer") return `The answer was ${(reveal.accepted || []).join(" or ")}.`;
  if (kind === "slider") return `The answer was ${formatNumber(reveal.correctValue)}.`;
  const picks = [...correctSet(reveal)].sort((a, b) => a - b).map((i) => letters[i]);
  return picks.length > 1 ? `The answers were ${picks.join(", ")}.` : `The answer was ${picks[0]}.`;
}
