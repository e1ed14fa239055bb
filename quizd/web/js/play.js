// The player page /play: join a quiz, answer its questions, follow the leaderboard.
//
// All state lives in `game` below; every server message updates it and re-renders the
// part of the page it concerns.  The connection itself (reconnect, resume, request ids)
// is QuizConnection's job (client.js), and what both pages draw alike (screens, status,
// boards, countdowns) is dom.js's: this file only decides what to show.

import { QuizConnection, pageConfig, webSocketUrl } from "./client.js";
import { $, Countdown, LETTERS, announce, el, renderBoard, setStatus, showScreen } from "./dom.js";

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
  choice: null,           // what this player picked for game.question (kept across drops)
  result: null,           // the answer_result for game.question
  top: [],                // latest leaderboard top entries
};

const questionTimer = new Countdown($("countdown"), (left) => {
  if (left === 0 && document.body.dataset.screen === "question" && game.choice === null) {
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
  $("my-rank").textContent = game.rank === null ? "–" : String(game.rank);
}

function updateStanding({ score, rank }) {
  if (score !== undefined) game.score = score;
  if (rank !== undefined) game.rank = rank;
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
  Object.assign(game, { quizId, name, question: null, choice: null, result: null, askedRank: false });
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
  history.replaceState(null, "", `${location.pathname}?quiz=${encodeURIComponent(p.quizId)}`);
  $("quiz-id").value = p.quizId;
  $("name").value = p.name;
  $("lobby-name").textContent = p.name;
  $("quiz-title").textContent = p.quiz.title;
  document.title = `${p.quiz.title} · quizd`;
  game.top = p.leaderboard;
  updateStanding({});
  renderPlayerCount(p.participants);

  if (p.quiz.phase === "lobby") {
    switchTo("lobby");
    announce(`You're in, ${p.name}. Waiting for the host to start.`);
  } else if (p.quiz.phase === "starting") {
    showStarting(Math.max(0, p.quiz.startsAt - p.serverTime));
  } else if (p.quiz.phase === "question") {
    const remembered = game.question?.questionId === p.question.questionId ? game.choice : null;
    showQuestion(p.question);
    // Send our answer again if we had one: the server treats the same choice as a safe
    // retry, so this recovers an answer lost in the drop, or just its reply.
    const choice = p.question.answered ? p.question.choice : remembered;
    if (choice !== null && choice !== undefined) choose(choice);
  } else if (p.quiz.phase === "reveal") {
    // The reveal carries the question and, if we answered, our answer_result: a reloaded
    // page draws the same screen as one that never left.
    const { questionId, index, total, text, choices, result } = p.reveal;
    if (game.question?.questionId !== questionId) {
      Object.assign(game, { question: { questionId, index, total, text, choices }, choice: null, result: null });
      renderQuestion(game.question);
    }
    // The server's word on our answer: without a result it never got one (lost in the drop).
    if (result) onAnswerResult(result);
    else game.choice = null;
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
  Object.assign(game, { question, choice: null, result: null, askedRank: false });
  renderQuestion(question);
  switchTo("question");
  questionTimer.start(question);
  announce(`Question ${question.index + 1} of ${question.total}: ${question.text}`);
  $("choices").querySelector("button")?.focus();
}

function renderQuestion(question) {
  document.body.dataset.answered = "false";
  $("question-number").textContent = `Question ${question.index + 1} of ${question.total}`;
  $("question-text").textContent = question.text;
  $("answer-note").textContent = "";
  $("answer-result").hidden = true;
  $("answer-result").dataset.correct = "";
  $("choices").replaceChildren(...question.choices.map((text, i) =>
    el("button", { type: "button", class: "choice", dataset: { choice: i }, "aria-pressed": "false",
      onclick: () => choose(i) },
    el("span", { class: "letter", "aria-hidden": "true" }, LETTERS[i]),
    el("span", { class: "visually-hidden" }, `${LETTERS[i]}: `),
    el("span", { class: "text" }, text),
    el("span", { class: "mark" }))));
}

function setChoicesDisabled(disabled) {
  for (const button of $("choices").children) button.disabled = disabled;
}

/** The player picked `choice` (or we resend it after a drop): show it and send it. */
async function choose(choice) {
  const { questionId } = game.question;
  game.choice = choice;
  document.body.dataset.answered = "true";
  setChoicesDisabled(true);
  for (const button of $("choices").children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.choice) === choice));
  }
  if (!game.result) $("answer-note").textContent = "Sending your answer…";
  if ($("choices").contains(document.activeElement)) $("answer-area").focus();
  try {
    await conn.request("answer", { questionId, choice });  // the reply is shown by handleMessage
  } catch (error) {
    if (game.question.questionId !== questionId || game.result) return;
    if (error.code === "not_connected") {
      // Kept in game.choice: onJoined sends it again after the resume.
      $("answer-note").textContent = "Connection lost. Your answer will be sent again.";
    } else if (error.code in ANSWER_RETRY_MS) {
      // Not refused, only not taken yet: send the same choice again in a moment (a dead
      // link is QuizConnection's to notice; the resume then resends it).
      if (error.code !== "timeout") $("answer-note").textContent = "Busy: sending your answer again…";
      const [sentOn, question] = [conn, game.question];
      setTimeout(() => {
        if (conn === sentOn && game.question === question && !game.result && sentOn.connected) choose(choice);
      }, ANSWER_RETRY_MS[error.code](error));
    } else {
      $("answer-note").textContent = ANSWER_ERRORS[error.code] || error.message;
      if (error.code !== "already_answered") {
        // Refused (too late, or a choice the server does not take): we have no answer.
        game.choice = null;  // the reveal then says "No answer"
        document.body.dataset.answered = "false";
        $("choices").querySelector("[aria-pressed=true]")?.setAttribute("aria-pressed", "false");
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
  game.choice = result.choice;
  $("answer-note").textContent = "";
  const box = $("answer-result");
  box.dataset.correct = String(result.correct);
  $("result-verdict").textContent = result.correct ? "✓ Correct!" : "✗ Wrong";
  $("result-points").textContent = `+${result.points}`;
  $("result-score").textContent = String(result.score);
  $("result-streak").textContent = String(result.streak);
  $("result-rank").textContent = String(result.rank);
  box.hidden = false;
  announce(result.correct ? `Correct, plus ${result.points} points.` : "Wrong answer.");
}

// ---- reveal, leaderboard, end -------------------------------------------------------

function showReveal({ questionId, correctChoice, distribution }) {
  if (questionId !== game.question?.questionId) return;
  questionTimer.stop();
  switchTo("reveal");
  setChoicesDisabled(true);
  for (const button of $("choices").children) {
    const i = Number(button.dataset.choice);
    const correct = i === correctChoice;
    button.dataset.correct = String(correct);
    // ✓ on the right answer, ✗ on this player's wrong pick: never colour alone.
    const mark = correct ? "✓" : i === game.choice ? "✗" : "";
    const words = correct ? " (correct answer)" : mark ? " (your answer, wrong)" : "";
    button.querySelector(".mark").replaceChildren(mark, el("span", { class: "visually-hidden" }, words));
  }
  const most = Math.max(1, ...distribution);
  $("distribution").replaceChildren(...distribution.map((count, i) =>
    el("li", { dataset: { choice: i, count, correct: String(i === correctChoice) } },
      el("span", { class: "letter" }, LETTERS[i]),
      el("span", { class: "text" }, game.question.choices[i],
        i === correctChoice ? el("span", { class: "tick" }, " ✓", el("span", { class: "visually-hidden" }, " correct")) : null),
      el("span", { class: "bar" }, barFill(count / most)),
      el("span", { class: "count" }, String(count)),
      el("span", { class: "visually-hidden" }, count === 1 ? " player" : " players"))));
  // In reveal on_close the answer_result follows right after; until then say "locked in".
  if (!game.result) $("answer-note").textContent = game.choice !== null ? "Answer locked in" : "No answer";
  announce(`The answer was ${LETTERS[correctChoice]}.`);
}

function barFill(fraction) {
  const fill = el("span");
  fill.style.width = `${Math.round(fraction * 100)}%`;
  return fill;
}

function onLeaderboard({ top, you }) {
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

const quizParam = new URLSearchParams(location.search).get("quiz");
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
