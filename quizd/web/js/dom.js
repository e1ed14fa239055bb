// What /play and /host draw the same way: elements, which screen is shown, the status
// line, the screen-reader announcer, leaderboards ("boards") and countdowns.
//
// The protocol is client.js's; this file knows only the DOM.  Both pages follow the same
// markup conventions, which is what lets one renderer serve both:
//   * a part of the page lists the screens it belongs to in `data-screens="lobby question"`;
//     showScreen(name) puts the name in body[data-screen] (the CSS keys on it) and shows
//     exactly the parts whose list holds it;
//   * `#status` is the connection's status line and `#announcer` the polite live region
//     for game events;
//   * a board is an <ol class="board"> of rank / name / score rows;
//   * a countdown box has a `.bar > span` that shrinks and a `.seconds` count, or is the
//     count itself (the big "Get ready" number).

/** The element with this id (the one meaning of `$` on both pages). */
export const $ = (id) => document.getElementById(id);

/** Create an element: el("li", {class: "row", dataset: {id: 3}}, "text", child...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** The letters shown next to choices 0, 1, 2, ... */
export const LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H"];

// ------------------------------------------------------------------ screens and status

/**
 * Show screen `name`: body[data-screen] says which, and every `[data-screens]` part is
 * hidden unless its list holds `name`.  With `rescueFocus`, focus left on something now
 * hidden (or nowhere) goes to the new screen's focusable heading (`tabindex="-1"`), for
 * a page that does not place focus itself at every change.
 */
export function showScreen(name, { rescueFocus = false } = {}) {
  document.body.dataset.screen = name;
  for (const part of document.querySelectorAll("[data-screens]")) {
    part.hidden = !part.dataset.screens.split(" ").includes(name);
  }
  if (!rescueFocus) return;
  const active = document.activeElement;
  if (!active || active === document.body || active.closest("[hidden]")) {
    document.querySelector(`[data-screens~="${name}"] [tabindex="-1"]`)?.focus();
  }
}

/** The connection's status line; `state` (connecting, joined, retrying, final) styles it. */
export function setStatus(text, state = "") {
  $("status").textContent = text;
  $("status").dataset.state = state;
}

/** Say a game event to screen readers ("Question 2 of 5", "Correct, plus 850 points"). */
export function announce(text) {
  $("announcer").textContent = text;
}

// ------------------------------------------------------------------ leaderboards

/** One board row.  `you` marks the viewer's own row; `dataset` adds data-* attributes
 * (the podium's place and rank). */
export function boardRow({ rank, participantId, name, score }, { you = false, dataset = {} } = {}) {
  return el("li", { class: you ? "you" : null, dataset: { participantId, ...dataset } },
    el("span", { class: "rank" }, String(rank)),
    el("span", { class: "name" }, name, you ? el("span", { class: "you-tag" }, " (you)") : null),
    el("span", { class: "score" }, String(score)));
}

/**
 * Fill the board `list` with `entries` ({rank, participantId, name, score}).  A player's
 * page passes `you` ({participantId, name, rank, score}, rank null when unknown): that row
 * is highlighted, and added at the end, set apart, when the player is not among `entries`.
 */
export function renderBoard(list, entries, you = null) {
  const mine = (entry) => you !== null && entry.participantId === you.participantId;
  const rows = entries.map((entry) => boardRow(entry, { you: mine(entry) }));
  if (you !== null && !entries.some(mine)) {
    const row = boardRow({ ...you, rank: you.rank ?? "–" }, { you: true });
    row.classList.add("outside");
    rows.push(row);
  }
  list.replaceChildren(...rows);
}

// ------------------------------------------------------------------ countdowns

/**
 * A countdown drawn into `box` (see the top of this file), run from the server's own
 * figures: what was left when the frame was sent (endsAt - serverTime), counted down on
 * this device's monotonic clock, so a phone whose wall clock is wrong still shows the
 * right time.  `onTick(remaining, total)` follows each drawing, for what a page adds
 * (the player page's "Time's up!").
 */
export class Countdown {
  constructor(box, onTick = () => {}) {
    this.box = box;
    this.onTick = onTick;
    this.timer = null;
  }

  /** Count down to a `question` payload's close. */
  start(question) {
    this.run(Math.min(question.timeLimitMs, question.endsAt - question.serverTime), question.timeLimitMs);
  }

  /** Count `ms` down (the "Get ready" before the first question, say); `total` is the full span. */
  run(ms, total = ms) {
    this.stop();
    const deadline = performance.now() + Math.max(0, ms);
    const tick = () => {
      const remaining = Math.max(0, deadline - performance.now());
      this.draw(remaining, total);
      this.onTick(remaining, total);
      if (remaining > 0) this.timer = setTimeout(tick, Math.min(250, remaining));
    };
    tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  draw(remaining, total) {
    const bar = this.box.querySelector(".bar > span");
    if (bar) bar.style.width = `${total ? (100 * remaining) / total : 0}%`;
    (this.box.querySelector(".seconds") || this.box).textContent = String(Math.ceil(remaining / 1000));
  }
}
