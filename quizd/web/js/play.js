// The player page /play: join a quiz, answer its questions, follow the leaderboard.
//
// All state lives in `game` below; every server message updates it and re-renders the
// part of the page it concerns.  The connection itself (reconnect, resume, request ids)
// is QuizConnection's job (client.js), and what both pages draw alike (screens, status,
// boards, countdowns) is dom.js's: this file only decides what to show.

import { QuizConnection, pageConfig, webSocketUrl } from "./client.js";
import { $, Countdown, LETTERS, announce, el, renderBoard, setStatus, showScreen } from "./dom.js";
import { answerWords, decimalsOf, manyControls, showAnswer, sliderControls, textControls, verdictOf } from "./answers.js";
import { CHOICE_KINDS, correctSet, kindOf, kindReveal, revealAnnouncement, showExplanation } from "./reveal.js";

const JOIN_ERRORS = {
  quiz_not_found: "There is no quiz with that code. Check the code and try again.",
  quiz_ended: "That quiz has already ended.",
  quiz_full: "That quiz is full. Sorry!",
  name_taken: "Someone in this quiz already has that name. Please pick another one.",
  name_invalid: "That name can't be used. Use 1 to 24 letters, digits, spaces or emoji.",
  wrong_phase: "That quiz has already started and doesn't let new players in.",
  invalid_resume_token: "Your place in that quiz is gone (you left or were removed). Join again with a name.",
  invalid_message: "That quiz code doesn't look right.",
};

// name_invalid with details.reason "denied": the name holds a word the operator refuses.
const NAME_DENIED = "That name isn't allowed here. Please pick another one.";

const ANSWER_ERRORS = {
  question_closed: "Too late: this question is closed.",
  already_answered: "You already answered this question.",
  rate_limited: "Slow down a little and try again.",
};

/** Answer errors that say "not now" rather than "no": how long to wait before resending
 * the same choice (the server treats a resend of the same choice as a safe retry). */
const ANSWER_RETRY_MS = {
  server_busy: (error) => error.details.retryAfterMs || 1000,
  internal: () => 1000,
  rate_limited: () => 1000,
  timeout: () => 0,
};

let conn = null;          // the QuizConnection of the quiz we are in (null on the join form)
let wsUrl = null;         // where the WebSocket listens, asked once
let namesMode = "given";  // /web/config.json's `names`: whether the node generates names
const game = {
  quizId: null, participantId: null, name: "",
  score: 0, rank: null,
  question: null,         // the open (or last) question payload
  answer: null,           // this player's answer to game.question as sent ({choice}, {choices},
                          // {text} or {value}; kept across drops), null before answering
  picked: new Set(),      // the toggles pressed on a "pick many" question, not yet sent
  result: null,           // the answer_result for game.question
  top: [],                // latest leaderboard top entries
};

// The page's URL says what the host chose for the phones (the host screen puts it in the
// join link and its QR code): `screen=big` shows only the answer controls, the question
// being on the big screen.
const params = new URLSearchParams(location.search);
const bigScreenOnly = params.get("screen") === "big";

// The quiz's leaderboard mode (protocol 16.6), which no message names, so the page reads
// it from what the server sends: "end" when `joined` has an empty leaderboard although
// we are in the quiz; "reveal" once a question was revealed and no leaderboard ever came
// outside a reveal (then ranks move at the reveals only, and the page says so rather than
// show a rank that looks live); "live" as soon as one does.
let boardMode = "live";
let liveBoardSeen = false;

const questionTimer = new Countdown($("countdown"), (left) => {
  if (left === 0 && document.body.dataset.screen === "question" && game.answer === null) {
    setChoicesDisabled(true);
    $("answer-note").textContent = "Time's up!";
  }
});
const startTimer = new Countdown($("starting-seconds"));

// ---- small helpers ------------------------------------------------------------------

const storageKey = (quizId) => `quizd.player.${quizId}`;

function savedSession(quizId) {
  try {
    return JSON.parse(sessionStorage.getItem(storageKey(quizId)));
  } catch {
    return null;
  }
}

function forgetSession() {
  if (game.quizId) sessionStorage.removeItem(storageKey(game.quizId));
}

/** Show `screen` (dom.js's showScreen); a countdown whose screen is gone stops with it. */
function switchTo(screen) {
  showScreen(screen);
  if (screen !== "question" && screen !== "reveal") questionTimer.stop();
  if (screen !== "starting") startTimer.stop();
}

function renderStats() {
  $("my-name").textContent = game.name;
  $("my-score").textContent = String(game.score);
  // With leaderboard = end the rank is kept for the end: no rank meanwhile at all.
  $("my-rank").textContent = game.rank === null || boardMode === "end" ? "–" : String(game.rank);
  $("rank-when").hidden = boardMode === "live";
  $("rank-when").textContent = { reveal: "at the reveal", end: "at the end" }[boardMode] || "";
  $("board-when").textContent = boardMode === "reveal" ? "(ranks at the reveal)" : "";
  if (game.result) $("result-rank").textContent = boardMode === "end" ? "at the end" : String(game.rank ?? "–");
}

/** Our score and rank changed.  With leaderboard = reveal a rank is taken at the reveal
 * only: one from an answer_result while the question is open would look live and then
 * stay put while others overtake. */
function updateStanding({ score, rank }) {
  if (score !== undefined) game.score = score;
  const open = document.body.dataset.screen === "question";
  if (rank !== undefined && !(open && boardMode === "reveal")) game.rank = rank;
  renderStats();
  renderBoard($("leaderboard"), game.top, me());  // our own row may sit below the top list
}

/** This player as a board entry (none on the join form): dom.js's renderBoard highlights
 * that row, or adds it below a top list it is not in. */
function me() {
  if (!game.participantId) return null;
  return { participantId: game.participantId, name: game.name, rank: game.rank, score: game.score };
}

function renderPlayerCount(count) {
  $("player-count").textContent = String(count);
  $("player-word").textContent = count === 1 ? "player" : "players";
}

// ---- joining ------------------------------------------------------------------------

function showJoinForm(message = "") {
  conn = null;
  game.participantId = null;
  document.title = "Play · quizd";
  switchTo("join");
  $("join-error").textContent = message;
  $("join-button").disabled = false;
  $("join-button").textContent = "Join";
  setStatus("");
}

function joinError(code, fallback) {
  return JOIN_ERRORS[code] || fallback || "Could not join the quiz. Please try again.";
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const quizId = $("quiz-id").value.trim();
  // "generated": the node names every player, a typed name would be ignored.
  const name = namesMode === "generated" ? "" : $("name").value.trim();
  const shortest = namesMode === "given" ? 1 : 0;  // empty: the node generates one
  let problem = "";
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(quizId)) problem = "Enter the quiz code you were given (letters, digits, - or _).";
  else if ([...name].length < shortest || [...name].length > 24) problem = "Enter a name of 1 to 24 characters.";
  $("quiz-id").setAttribute("aria-invalid", String(problem.startsWith("Enter the quiz")));
  $("name").setAttribute("aria-invalid", String(problem.startsWith("Enter a name")));
  $("join-error").textContent = problem;
  if (problem) {
    (problem.startsWith("Enter the quiz") ? $("quiz-id") : $("name")).focus();
    return;
  }
  connect(quizId, name);
});

/** Open the connection for `quizId`: a resume when this tab holds a token for it. */
async function connect(quizId, name) {
  // A clean slate: nothing of an earlier place (another quiz, or before a kick or a leave)
  // may be taken for this one's, least of all an answer to resend.
  Object.assign(game, { quizId, name, question: null, answer: null, result: null, askedRank: false });
  $("join-button").disabled = true;
  $("join-button").textContent = savedSession(quizId) ? "Rejoining…" : "Joining…";
  $("join-error").textContent = "";
  try {
    wsUrl ??= await webSocketUrl();
  } catch {
    showJoinForm("Cannot reach the quiz server. Check your connection and try again.");
    return;
  }
  const self = new QuizConnection(wsUrl, {
    // Asked before every (re)connect: once `joined` stored a token, reconnects resume.
    join: () => {
      const saved = savedSession(quizId);
      if (saved) return { quizId, resumeToken: saved.resumeToken };
      return name ? { quizId, name } : { quizId };  // no name: the node generates one
    },
    // Callbacks of a connection we have moved away from (left, joined again) are ignored.
    onMessage: (message) => self === conn && handleMessage(message),
    onStatus: (status) => self === conn && handleStatus(status),
  });
  conn = self;
  self.start();
}

function handleStatus(status) {
  if (status.state === "connecting") setStatus(status.attempt ? "Reconnecting…" : "Connecting…", "connecting");
  else if (status.state === "joined") setStatus("Connected", "joined");
  else if (status.state === "retrying") {
    setStatus(`${capitalize(status.reason)}. Reconnecting in ${Math.ceil(status.inMs / 1000)} s…`, "retrying");
  } else if (status.state === "final") handleFinal(status);
}

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

/** The connection is over for good: say why and offer the way on. */
function handleFinal({ code, error, reason, unconfirmed }) {
  if (code === 1000) {
    // Our leave, confirmed: the place and the name are gone.
    forgetSession();
    history.replaceState(null, "", location.pathname);
    showJoinForm();
    setStatus("You left the quiz.");
    return;
  }
  if (unconfirmed) {
    // The leave may not have arrived: keep the token, so that joining again resumes.
    showJoinForm("We could not confirm that you left (connection problem), so your place is kept. Join to go back in.");
    return;
  }
  if (error) {
    // A join was refused; a refused resume means the token is useless now.
    if (error.code === "invalid_resume_token" || error.code === "quiz_ended" || error.code === "quiz_not_found") forgetSession();
    const denied = error.code === "name_invalid" && error.details?.reason === "denied";
    showJoinForm(denied ? NAME_DENIED : joinError(error.code, error.message));
    $(error.code.startsWith("name_") || error.code === "invalid_resume_token" ? "name" : "quiz-id").focus();
    return;
  }
  if (code === 4004 || code === 4001) forgetSession();
  if (code === 4004) {
    setStatus("The quiz is over.");
    if (document.body.dataset.screen !== "ended") showClosed("The quiz is over", "Thanks for playing!");
  } else if (code === 4001) {
    setStatus("Removed from the quiz.", "final");
    showClosed("You were removed from the quiz", "The host removed you. You can join again with another name.");
  } else if (code === 4002) {
    setStatus("Open in another tab.", "final");
    showClosed("You're playing in another tab", "This quiz is open in another tab or on another device.", true);
  } else {
    setStatus(`Disconnected: ${reason}.`, "final");
    showClosed("Disconnected", `The connection to the quiz ended (${reason}).`);
  }
}

function showClosed(title, message, offerUseHere = false) {
  switchTo("closed");
  $("closed-title").textContent = title;
  $("closed-message").textContent = message;
  $("use-here").hidden = !offerUseHere;
  $("join-again").hidden = offerUseHere;  // the place is still ours: only "Use this tab" fits
  $(offerUseHere ? "use-here" : "closed-title").focus();
}

$("use-here").addEventListener("click", () => {
  // 4002 left the token valid: connecting again resumes here and closes the other tab.
  $("closed-message").textContent = "Reconnecting…";
  conn.start();
});

for (const id of ["join-again", "play-again"]) {
  $(id).addEventListener("click", () => {
    if (id === "play-again") {
      $("quiz-id").value = "";
      history.replaceState(null, "", location.pathname);
    }
    showJoinForm();
    $("quiz-id").focus();
  });
}

$("leave-button").addEventListener("click", () => {
  if (!conn.leave()) {
    // Nothing was sent: we are still in the quiz, so keep the token and say so.
    setStatus("Not connected, so you have not left. Try again once reconnected.", "retrying");
    return;
  }
  setStatus("Leaving…");  // the token goes once the server's close 1000 confirms (handleFinal)
});

// ---- server messages ----------------------------------------------------------------

function handleMessage({ type, payload, re }) {
  switch (type) {
    case "joined": return onJoined(payload);
    case "participants": return renderPlayerCount(payload.count);
    case "quiz_starting": return showStarting(payload.countdownMs);
    case "question": return showQuestion(payload);
    case "answer_accepted": return onAnswerAccepted(payload);
    case "answer_result": return onAnswerResult(payload);
    case "question_closed": return showReveal(payload);
    case "leaderboard": return onLeaderboard(payload);
    case "quiz_ended": return showEnded(payload);
    case "kicked": return forgetSession();  // the 4001 close that follows says the rest
    case "error":
      // Replies to our requests are handled where they were sent; this is the rest.
      if (re === undefined && payload.code === "rate_limited") flashNote(ANSWER_ERRORS.rate_limited);
      return undefined;
    default: return undefined;  // ignore what we do not know (the protocol only grows)
  }
}

/** `joined` describes the whole present state: rebuild the screen from it. */
function onJoined(p) {
  Object.assign(game, { quizId: p.quizId, participantId: p.participantId, name: p.name, score: p.score, rank: p.rank });
  const session = { resumeToken: p.resumeToken, name: p.name, participantId: p.participantId };
  sessionStorage.setItem(storageKey(p.quizId), JSON.stringify(session));
  history.replaceState(null, "", `${location.pathname}?${joinQuery(p.quizId)}`);
  $("quiz-id").value = p.quizId;
  $("name").value = p.name;
  $("lobby-name").textContent = p.name;
  $("quiz-title").textContent = p.quiz.title;
  document.title = `${p.quiz.title} · quizd`;
  // We are on every leaderboard of a live or reveal quiz (at the bottom, if need be):
  // an empty one means the server keeps the standings for the end.
  if (p.leaderboard.length === 0 && p.participants > 0) boardMode = "end";
  else if (p.quiz.phase === "reveal" && !liveBoardSeen) boardMode = "reveal";
  $("board-panel").classList.toggle("never", boardMode === "end");
  game.top = p.leaderboard;
  updateStanding({});
  renderPlayerCount(p.participants);

  if (p.quiz.phase === "lobby") {
    switchTo("lobby");
    announce(`You're in, ${p.name}. Waiting for the host to start.`);
  } else if (p.quiz.phase === "starting") {
    showStarting(Math.max(0, p.quiz.startsAt - p.serverTime));
  } else if (p.quiz.phase === "question") {
    const remembered = game.question?.questionId === p.question.questionId ? game.answer : null;
    showQuestion(p.question);
    // Send our answer again if we had one: the server treats the same answer as a safe
    // retry, so this recovers an answer lost in the drop, or just its reply.
    const echo = p.question.answer || (p.question.answered && p.question.choice !== undefined ? { choice: p.question.choice } : null);
    const answer = p.question.answered ? echo : remembered;
    if (answer) send(answer);
  } else if (p.quiz.phase === "reveal") {
    // The reveal carries the question and, if we answered, our answer_result: a reloaded
    // page draws the same screen as one that never left.
    const { result, ...reveal } = p.reveal;
    if (game.question?.questionId !== reveal.questionId) {
      Object.assign(game, { question: reveal, answer: null, result: null });
      renderQuestion(game.question);
    }
    // The server's word on our answer: without a result it never got one (lost in the drop).
    if (result) onAnswerResult(result);
    else game.answer = null;
    showReveal(p.reveal);
  }
}

function showStarting(countdownMs) {
  switchTo("starting");
  announce("Get ready! The quiz is starting.");
  startTimer.run(countdownMs);
}

// ---- questions ----------------------------------------------------------------------

function showQuestion(question) {
  Object.assign(game, { question, answer: null, result: null, askedRank: false });
  renderQuestion(question);
  switchTo("question");
  questionTimer.start(question);
  const words = bigScreenOnly ? "look at the big screen" : question.text;
  announce(`Question ${question.index + 1} of ${question.total}: ${words}`);
  (document.querySelector("#choices button, #answer-form input") || $("answer-area")).focus();
}

/** Draw `question` with its kind's controls: choice buttons (single, true_false, poll),
 * toggles and a Submit (multiple), a text field (type_answer), a slider with a number
 * field (slider).  With the question on the big screen only, the phone shows letters
 * and controls without the question's or the choices' texts. */
function renderQuestion(question) {
  const kind = kindOf(question);
  document.body.dataset.answered = "false";
  document.body.dataset.kind = kind;
  document.body.classList.toggle("big-screen-only", bigScreenOnly);
  $("question-number").textContent = `Question ${question.index + 1} of ${question.total}`;
  $("question-text").textContent = bigScreenOnly ? "Look at the big screen" : question.text;
  $("answer-note").textContent = "";
  $("answer-result").hidden = true;
  $("answer-result").dataset.correct = "";
  $("explanation").hidden = true;
  $("reveal-extra").replaceChildren();
  game.picked = new Set();
  const many = kind === "multiple";
  $("choices").hidden = !CHOICE_KINDS.has(kind);
  $("choices").replaceChildren(...question.choices.map((text, i) =>
    el("button", { type: "button", class: "choice", dataset: { choice: i }, "aria-pressed": "false",
      onclick: () => (many ? toggle(i) : send({ choice: i })) },
    el("span", { class: "letter", "aria-hidden": "true" }, LETTERS[i]),
    el("span", { class: "visually-hidden" }, bigScreenOnly ? LETTERS[i] : `${LETTERS[i]}: `),
    bigScreenOnly ? null : el("span", { class: "text" }, text),
    el("span", { class: "mark" }))));
  const form = $("answer-form");
  form.hidden = !(many || kind === "type_answer" || kind === "slider");
  form.replaceChildren(...(many ? manyControls() : kind === "type_answer" ? textControls(question)
    : kind === "slider" ? sliderControls(question) : []));
  form.onsubmit = (event) => {
    event.preventDefault();
    submitForm(kind);
  };
}

/** A "pick many" toggle: pressed or not; Submit needs at least one. */
function toggle(i) {
  if (game.answer !== null) return;
  if (game.picked.has(i)) game.picked.delete(i);
  else game.picked.add(i);
  const button = $("choices").querySelector(`[data-choice="${i}"]`);
  button.setAttribute("aria-pressed", String(game.picked.has(i)));
  $("submit-answer").disabled = game.picked.size === 0;
}

/** Submit the answer form of a multiple, type_answer or slider question. */
function submitForm(kind) {
  if (game.answer !== null) return;
  if (kind === "multiple") {
    if (game.picked.size) send({ choices: [...game.picked].sort((a, b) => a - b) });
  } else if (kind === "type_answer") {
    const text = $("answer-text").value;
    if (text.trim()) send({ text });
    else flashNote("Type an answer first.");
  } else if (kind === "slider") {
    const number = $("answer-number");
    if (number.value === "" || !number.checkValidity()) {
      flashNote(`Pick a number from ${game.question.min} to ${game.question.max}, in steps of ${game.question.step}.`);
      number.focus();
      return;
    }
    send({ value: Number(Number(number.value).toFixed(decimalsOf(game.question.step))) });
  }
}

function setChoicesDisabled(disabled) {
  for (const control of [...$("choices").children, ...$("answer-form").querySelectorAll("input, button")]) {
    control.disabled = disabled;
  }
  if (!disabled && $("submit-answer") && kindOf(game.question) === "multiple") $("submit-answer").disabled = game.picked.size === 0;
}

/** The player answered (or we resend the answer after a drop): show it and send it. */
async function send(answer) {
  const { questionId } = game.question;
  game.answer = answer;
  document.body.dataset.answered = "true";
  setChoicesDisabled(true);
  showAnswer(answer);
  if (!game.result) $("answer-note").textContent = "Sending your answer…";
  const controls = [$("choices"), $("answer-form")];
  if (controls.some((box) => box.contains(document.activeElement))) $("answer-area").focus();
  try {
    await conn.request("answer", { questionId, ...answer });  // the reply is shown by handleMessage
  } catch (error) {
    if (game.question.questionId !== questionId || game.result) return;
    if (error.code === "not_connected") {
      // Kept in game.answer: onJoined sends it again after the resume.
      $("answer-note").textContent = "Connection lost. Your answer will be sent again.";
    } else if (error.code in ANSWER_RETRY_MS) {
      // Not refused, only not taken yet: send the same answer again in a moment (a dead
      // link is QuizConnection's to notice; the resume then resends it).
      if (error.code !== "timeout") $("answer-note").textContent = "Busy: sending your answer again…";
      const [sentOn, question] = [conn, game.question];
      setTimeout(() => {
        if (conn === sentOn && game.question === question && !game.result && sentOn.connected) send(answer);
      }, ANSWER_RETRY_MS[error.code](error));
    } else {
      $("answer-note").textContent = ANSWER_ERRORS[error.code] || error.message;
      if (error.code !== "already_answered") {
        // Refused (too late, or an answer the server does not take): we have no answer.
        game.answer = null;  // the reveal then says "No answer"
        document.body.dataset.answered = "false";
        for (const button of $("choices").querySelectorAll("[aria-pressed=true]")) {
          if (!game.picked.has(Number(button.dataset.choice))) button.setAttribute("aria-pressed", "false");
        }
        if (error.code !== "question_closed") setChoicesDisabled(false);
      }
    }
  }
}

function flashNote(text) {
  const note = $("answer-note");
  const before = note.textContent;
  note.textContent = text;
  setTimeout(() => { if (note.textContent === text) note.textContent = before; }, 3000);
}

function onAnswerAccepted({ questionId }) {
  if (questionId !== game.question?.questionId || game.result) return;
  $("answer-note").textContent = "Answer locked in! Wait for the reveal.";
  announce("Answer locked in.");
}

function onAnswerResult(result) {
  updateStanding(result);
  if (result.questionId !== game.question?.questionId) return;
  game.result = result;
  const { choice, choices, text, value } = result;
  game.answer = Object.fromEntries(Object.entries({ choice, choices, text, value }).filter(([, v]) => v !== undefined));
  document.body.dataset.answered = "true";
  showAnswer(game.answer);
  $("answer-note").textContent = "";
  const box = $("answer-result");
  const verdict = verdictOf(result);
  box.dataset.correct = verdict.state;
  $("result-verdict").textContent = verdict.words;
  $("result-answer").textContent = `Your answer: ${answerWords(game.answer, game.question.choices, bigScreenOnly)}`;
  $("result-points").textContent = `+${result.points}`;
  $("result-score").textContent = String(result.score);
  $("result-streak").textContent = String(result.streak);
  renderStats();
  box.hidden = false;
  announce(verdict.said);
}

// ---- reveal, leaderboard, end -------------------------------------------------------

function showReveal(reveal) {
  const { questionId, distribution } = reveal;
  if (questionId !== game.question?.questionId) return;
  questionTimer.stop();
  switchTo("reveal");
  setChoicesDisabled(true);
  const right = correctSet(reveal);
  const mine = new Set(game.answer?.choices || (game.answer?.choice === undefined ? [] : [game.answer.choice]));
  for (const button of $("choices").children) {
    const i = Number(button.dataset.choice);
    const correct = right.has(i);
    button.dataset.correct = right.size ? String(correct) : "";  // a poll has no right answer
    // ✓ on the right answers, ✗ on this player's wrong picks: never colour alone.
    const mark = correct ? "✓" : mine.has(i) && right.size ? "✗" : "";
    const words = correct ? " (correct answer)" : mark ? " (your answer, wrong)" : "";
    button.querySelector(".mark").replaceChildren(mark, el("span", { class: "visually-hidden" }, words));
  }
  const most = Math.max(1, ...(distribution || []));
  $("distribution").replaceChildren(...(distribution || []).map((count, i) =>
    el("li", { dataset: { choice: i, count, correct: String(right.has(i)) } },
      el("span", { class: "letter" }, LETTERS[i]),
      el("span", { class: "text" }, bigScreenOnly ? "" : game.question.choices[i],
        right.has(i) ? el("span", { class: "tick" }, " ✓", el("span", { class: "visually-hidden" }, " correct")) : null),
      el("span", { class: "bar" }, barFill(count / most)),
      el("span", { class: "count" }, String(count)),
      el("span", { class: "visually-hidden" }, count === 1 ? " player" : " players"))));
  const extra = kindReveal(reveal, game.question);
  $("reveal-extra").replaceChildren(...(extra ? [extra] : []));
  showExplanation($("explanation"), reveal);
  // In reveal on_close the answer_result follows right after; until then say "locked in".
  if (!game.result) $("answer-note").textContent = game.answer !== null ? "Answer locked in" : "No answer";
  announce([revealAnnouncement(reveal, game.question, LETTERS), reveal.explanation].filter(Boolean).join(" "));
  if (boardMode === "live" && !liveBoardSeen) {
    boardMode = "reveal";
    renderStats();
  }
}

function barFill(fraction) {
  const fill = el("span");
  fill.style.width = `${Math.round(fraction * 100)}%`;
  return fill;
}

function onLeaderboard({ top, you }) {
  if (!["reveal", "ended"].includes(document.body.dataset.screen) && !liveBoardSeen) {
    liveBoardSeen = true;  // only a live quiz sends leaderboards between reveals
    if (boardMode === "reveal") boardMode = "live";
  }
  game.top = top;
  const mine = top.find((entry) => entry.participantId === game.participantId);
  updateStanding(you || mine || {});  // also redraws the board
  if (!you && !mine && document.body.dataset.screen === "reveal" && !game.askedRank) {
    // Not in the top list: ask for our exact rank once per reveal, at a random moment
    // within 2 s, so that thousands of players do not all ask in the same millisecond.
    game.askedRank = true;
    setTimeout(() => conn?.request("get_leaderboard").catch(() => {}), Math.random() * 2000);
  }
}

/** The query of this page's URL for `quizId`, keeping what the host put in the join link. */
function joinQuery(quizId) {
  const query = new URLSearchParams({ quiz: quizId });
  if (bigScreenOnly) query.set("screen", "big");
  return query.toString();
}

function showEnded({ leaderboard, you }) {
  forgetSession();  // the quiz is over: nothing to resume
  if (you) updateStanding(you);
  renderBoard($("final-standings"), leaderboard, me());
  $("final-rank").textContent = you
    ? `You finished #${you.rank} with ${you.score} points`
    : "Thanks for playing!";
  switchTo("ended");
  announce(`The quiz is over. ${$("final-rank").textContent}.`);
  document.querySelector("#ended-screen h1").focus();
}

// ---- start --------------------------------------------------------------------------

/** When the node generates names, the name field may stay empty ("both") or is not
 * asked at all ("generated"); the generated name shows once joined (lobby, top bar). */
function useNamesMode(mode) {
  namesMode = mode === "generated" || mode === "both" ? mode : "given";
  if (namesMode === "both") {
    $("name-hint").textContent = "Up to 24 characters. Other players will see it. Leave empty for a generated name.";
  } else if (namesMode === "generated") {
    for (const id of ["name", "name-label"]) $(id).hidden = true;
    $("name-hint").textContent = "You will get a name when you join.";
  }
}

pageConfig().then((config) => useNamesMode(config.names)).catch(() => {});

const quizParam = params.get("quiz");
if (quizParam) {
  $("quiz-id").value = quizParam;
  const saved = savedSession(quizParam);
  if (saved) {
    // This tab was in the quiz already (a reload): resume right away, no form.
    $("name").value = saved.name;
    connect(quizParam, saved.name);
  } else {
    $("name").focus();
  }
} else {
  $("quiz-id").focus();
}
