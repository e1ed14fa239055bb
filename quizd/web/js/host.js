// The host screen (/host): create or open a quiz over HTTP, then drive it over the
// WebSocket as its host.  The server's messages are the source of truth: `joined` (also
// after every reconnect) rebuilds the whole screen, `host_state` decides which commands
// are enabled, and the broadcasts (`question`, `question_closed`, ...) change the screen.
// The connection is client.js's; screens, status, boards and countdowns are drawn by
// dom.js, the same way as on the player page.

import { QuizConnection, webSocketUrl } from "./client.js";
import { $, Countdown, LETTERS, announce, boardRow, el, renderBoard, setStatus, showScreen } from "./dom.js";
import { Library } from "./library.js";
import { CHOICE_KINDS, correctSet, kindOf, kindReveal, revealAnnouncement, showExplanation } from "./reveal.js";

const STORAGE_KEY = "quizd.host";  // {quizId, hostToken}: a reload goes straight back in

// Kept in memory only: never stored, never put in the URL or the DOM.
let adminToken = "";
let connection = null;

// What the screen shows, rebuilt from `joined` and kept up to date by the messages.
const quiz = {
  session: null,        // {quizId, hostToken}
  questionCount: 0,
  phase: null,
  questionIndex: null,
  players: new Map(),   // participantId -> name
  participants: null,   // host_state.participants, which `connected` belongs to
  connected: null,      // host_state.connected
  answered: null,       // host_state.answered (unknown right after a reconnect)
  question: null,       // the last `question` payload
  endedSeen: false,
};

// participantId -> its <li> in #player-list: a list of 10,000 is not searched per player.
const playerItems = new Map();

const countdown = new Countdown($("countdown"));
const startingCountdown = new Countdown($("starting-seconds"));

// ------------------------------------------------------------------ screens

/** Show screen `name` (dom.js).  Focus that sat on something now hidden would be lost:
 * it goes to the new screen's heading. */
function switchTo(name) {
  showScreen(name, { rescueFocus: true });
}

function showActionError(text) {
  $("action-error").textContent = text;
}

// ------------------------------------------------------------------ setup (HTTP)

/** Call the control plane; resolves with the JSON body or throws an Error with a readable message. */
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${adminToken}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  } catch {
    throw new Error("Cannot reach the server.");
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  if (response.status === 401) throw new Error("Wrong admin token.");
  const message = data && data.error ? data.error.message : response.statusText;
  throw new Error(`${message} (HTTP ${response.status})`);
}

async function loadDefinitions() {
  adminToken = $("admin-token").value.trim();
  const select = $("definition");
  const definitions = await api("GET", "/api/definitions");
  select.replaceChildren(...definitions.map((d) =>
    el("option", { value: d.id }, `${d.title} (${d.questionCount} questions)`)));
  select.disabled = definitions.length === 0;
  $("create-quiz").disabled = definitions.length === 0;
  $("open-library").disabled = false;  // the token works: the library may use it
  if (definitions.length === 0) throw new Error("This server has no quiz definitions.");
  select.focus();
}

// The editor, history and reports (library.js) ask for the token here, each time.
const library = new Library(() => adminToken, () => {
  switchTo("setup");
  setupAction($("load-definitions"), loadDefinitions);  // the library may have added some
});
$("open-library").addEventListener("click", () => library.open());

async function createQuiz() {
  const created = await api("POST", "/api/quizzes", { definitionId: $("definition").value });
  host({ quizId: created.quizId, hostToken: created.hostToken });
}

/** Run a setup action, showing its failure in the alert region. */
async function setupAction(button, action) {
  $("setup-error").textContent = "";
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    $("setup-error").textContent = error.message;
  } finally {
    button.disabled = button.id === "create-quiz" && $("definition").disabled;
  }
}

$("create-form").addEventListener("submit", (event) => {
  event.preventDefault();
  // Enter in the token field submits with the first button, "Load quizzes".
  const button = event.submitter || $("load-definitions");
  setupAction(button, button.id === "create-quiz" ? createQuiz : loadDefinitions);
});

$("open-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const quizId = $("open-quiz-id").value.trim();
  const hostToken = $("open-host-token").value.trim();
  if (quizId && hostToken) host({ quizId, hostToken });
});

// ------------------------------------------------------------------ the connection

function saveSession(session) {
  quiz.session = session;
  if (session) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(STORAGE_KEY);
}

function storedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(STORAGE_KEY));
    return session && session.quizId && session.hostToken ? session : null;
  } catch {
    return null;
  }
}

/** Connect as the host of `session.quizId`; the node that served this page is the one to talk to. */
let hostCalls = 0;  // a double click must not leave two connections fighting for the seat

async function host(session) {
  const call = ++hostCalls;
  disconnect();
  saveSession(session);
  quiz.endedSeen = false;
  setStatus("Connecting…", "connecting");
  let url;
  try {
    url = await webSocketUrl();
  } catch (error) {
    if (call === hostCalls) backToSetup(`Cannot find the quiz server: ${error.message}`);
    return;
  }
  if (call !== hostCalls) return;  // a later call took over while we waited
  const conn = new QuizConnection(url, {
    join: () => ({ quizId: session.quizId, hostToken: session.hostToken }),
    // A stopped connection may still report: only the current one counts.
    onMessage: (message) => { if (conn === connection) onMessage(message); },
    onStatus: (status) => { if (conn === connection) onStatus(status); },
  });
  connection = conn;
  conn.start();
}

function disconnect() {
  if (connection) connection.stop();
  connection = null;
  countdown.stop();
  startingCountdown.stop();
}

function onStatus(status) {
  if (status.state === "connecting") {
    setStatus(status.attempt ? "Reconnecting…" : "Connecting…", "connecting");
  } else if (status.state === "joined") {
    setStatus(`Connected: hosting quiz ${status.payload.quizId}`, "joined");
    onJoined(status.payload);
  } else if (status.state === "retrying") {
    const reason = status.reason.charAt(0).toUpperCase() + status.reason.slice(1);
    setStatus(`${reason}; retrying in ${Math.ceil(status.inMs / 1000)} s…`, "retrying");
    updateControls();
  } else if (status.state === "final") {
    onFinal(status);
  }
}

function onFinal(status) {
  connection = null;
  countdown.stop();
  if (status.error) {
    // The join itself was refused: this session cannot work, so forget it.
    const messages = {
      quiz_not_found: `There is no quiz "${quiz.session.quizId}" on this server.`,
      quiz_ended: `Quiz "${quiz.session.quizId}" has ended.`,
      not_host: `Wrong host token for quiz "${quiz.session.quizId}".`,
    };
    backToSetup(messages[status.error.code] || status.error.message);
  } else if (status.code === 4004 && quiz.endedSeen) {
    setStatus("The quiz is over.", "final");
  } else {
    setStatus(`Disconnected: ${status.reason}.`, "final");
    if (status.code === 4004) saveSession(null);  // over, but its results never arrived here
    $("closed-message").textContent = status.code === 4002
      ? "This quiz was opened on another screen. Reconnect to show it here again."
      : `The connection ended: ${status.reason}.`;
    $("reconnect").hidden = !quiz.session;
    switchTo("closed");
  }
}

function backToSetup(error = "") {
  disconnect();
  saveSession(null);
  quiz.phase = null;
  for (const box of document.querySelectorAll(".confirm")) box.hidden = true;
  showActionError("");
  $("quiz-title").textContent = "Host a quiz";
  document.title = "Host · quizd";
  setStatus("");
  $("setup-error").textContent = error;
  switchTo("setup");
}

// ------------------------------------------------------------------ server messages

function onMessage({ type, payload }) {
  switch (type) {
    case "player_joined":
      quiz.players.set(payload.participantId, payload.name);
      addPlayer(payload.participantId, payload.name);
      break;
    case "player_left":
      quiz.players.delete(payload.participantId);
      playerItems.get(payload.participantId)?.remove();
      playerItems.delete(payload.participantId);
      renderPlayerCount();
      break;
    case "host_state": applyHostState(payload); break;
    case "quiz_starting": showStarting(payload.countdownMs); break;
    case "question": showQuestion(payload); break;
    case "question_closed": showReveal(payload); break;
    case "leaderboard":
      renderBoard($("leaderboard"), payload.top);
      $("leaderboard-total").textContent = `(${payload.total} players)`;
      break;
    case "quiz_ended": showEnded(payload); break;
    case "error":
      // Replies to our own requests are handled where they were sent; this is e.g. rate_limited.
      if (payload.code === "rate_limited") showActionError(payload.message);
      break;
    default: break;  // joined comes through onStatus; unknown types are ignored (protocol v1 grows)
  }
}

/** Rebuild everything from the `joined` payload (first join and every reconnect). */
function onJoined(payload) {
  const info = payload.quiz;
  quiz.questionCount = info.questionCount;
  quiz.questionIndex = info.questionIndex;
  // `players` is the first page of a big quiz's list; the rest is fetched below.
  quiz.players = new Map(payload.players.map((p) => [p.participantId, p.name]));
  quiz.participants = payload.playersTotal ?? payload.players.length;
  quiz.connected = payload.players.filter((p) => p.connected).length;
  quiz.answered = null;
  $("quiz-title").textContent = info.title;
  document.title = `${info.title} · Host · quizd`;
  renderJoinInfo(payload.quizId);
  $("player-list").replaceChildren();
  playerItems.clear();
  for (const [id, name] of quiz.players) addPlayer(id, name);
  renderBoard($("leaderboard"), payload.leaderboard);
  $("leaderboard-total").textContent = `(${payload.participants} players)`;

  if (info.phase === "question" && payload.question) {
    showQuestion(payload.question);
  } else if (info.phase === "reveal" && payload.reveal) {
    // The reveal carries its question, so a reloaded screen draws it in full.
    quiz.question = payload.reveal;
    renderQuestionHeader(payload.reveal.index, payload.reveal.text);
    renderChoices(payload.reveal);
    showReveal(payload.reveal);
  } else if (info.phase === "starting") {
    showStarting(Math.max(0, info.startsAt - payload.serverTime));
  } else switchTo("lobby");
  // hostState: the live counts as of now (host_state itself only comes on a change).
  applyHostState(payload.hostState || { phase: info.phase, questionIndex: info.questionIndex });
  if (payload.playersNext) fetchRemainingPlayers(connection, payload.playersNext);
}

/** The rest of a big quiz's player list (protocol 5.10): one `get_players` page at a
 * time, each asked only after the previous reply, so the host's own send queue never
 * fills.  `player_joined` / `player_left` keep the list right meanwhile (both arrive in
 * order with the pages).  A reconnect's `joined` starts over, so a page of an older
 * connection is dropped. */
async function fetchRemainingPlayers(conn, cursor) {
  while (cursor && conn !== null && conn === connection) {
    let reply;
    try {
      reply = await conn.request("get_players", { after: cursor });
    } catch (error) {
      // Unanswered on a live link: ask again; anything else (a drop) waits for the next `joined`.
      if (error.code === "timeout" && conn === connection) continue;
      return;
    }
    if (conn !== connection) return;
    for (const p of reply.payload.players) {
      quiz.players.set(p.participantId, p.name);
      addPlayer(p.participantId, p.name);
    }
    cursor = reply.payload.next;
  }
}

function applyHostState(state) {
  quiz.phase = state.phase;
  if (state.questionIndex !== undefined) quiz.questionIndex = state.questionIndex;
  if (state.participants !== undefined) quiz.participants = state.participants;
  if (state.connected !== undefined) quiz.connected = state.connected;
  if (state.answered !== undefined) quiz.answered = state.answered;
  renderPlayerCount();
  renderAnswered();
  updateControls();
}

/** Commands follow host_state.phase: Start in the lobby, Next in a question or reveal, End until the end. */
function updateControls() {
  const online = connection !== null && connection.connected;
  const phase = quiz.phase;
  $("start").disabled = !online || phase !== "lobby";
  $("start").hidden = phase !== "lobby";
  $("next").hidden = phase === "lobby";
  $("next").disabled = !online || !(phase === "question" || phase === "reveal");
  $("end").disabled = !online || !phase || phase === "ended";
  const last = quiz.questionIndex === quiz.questionCount - 1;
  $("next-hint").textContent = {
    question: "closes the question now",
    reveal: last ? "shows the final results" : "opens the next question",
  }[phase] || "";
}

// ------------------------------------------------------------------ lobby

/** The URL a player opens to join `quizId` on this node; with `screen=big` when the host
 * keeps the question on the big screen only (the phones then show just the answers). */
function playUrl(quizId) {
  const query = new URLSearchParams({ quiz: quizId });
  if ($("big-screen-only").checked) query.set("screen", "big");
  return `${location.origin}/play?${query}`;
}

// The host may change it before the start or at any time: the link and QR code follow
// (phones that join or reload by the link afterwards show just the answer controls).
$("big-screen-only").addEventListener("change", () => {
  if (quiz.session) renderJoinInfo(quiz.session.quizId);
});

function renderJoinInfo(quizId) {
  const link = playUrl(quizId);
  $("join-code").textContent = quizId;
  $("join-link").href = link;
  $("join-link").textContent = link;
  $("join-qr").src = `/web/qr.svg?text=${encodeURIComponent(link)}`;
  $("close-quiz-id").textContent = quizId;
  $("close-host-token").textContent = quiz.session.hostToken;
  $("loopback-note").hidden = !isLoopback(location.hostname);
}

/** A join link on localhost reaches no phone: the lobby says so. */
function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\./.test(hostname);
}

function addPlayer(participantId, name) {
  if (playerItems.has(participantId)) return;
  const item = el("li", { dataset: { participantId } }, el("span", { class: "name" }, name));
  item.append(kickButton(item, name));
  $("player-list").append(item);
  playerItems.set(participantId, item);
  renderPlayerCount();
}

/** "Kick" asks inline first (a stray click on a projector remote should not remove anyone). */
function kickButton(item, name) {
  const button = el("button", { type: "button", class: "kick secondary", "aria-label": `Kick ${name}` }, "Kick");
  button.addEventListener("click", () => {
    const cancel = el("button", { type: "button", class: "kick-cancel secondary" }, "Cancel");
    const confirm = el("button", { type: "button", class: "kick-confirm danger" }, `Kick ${name}`);
    const box = el("span", { class: "confirm-inline" }, confirm, cancel);
    cancel.addEventListener("click", () => { box.replaceWith(button); button.focus(); });
    confirm.addEventListener("click", () => {
      confirm.disabled = true;
      command("kick", { participantId: item.dataset.participantId }).then((ok) => {
        if (!ok && box.isConnected) { box.replaceWith(button); button.focus(); }
      });
    });
    button.replaceWith(box);
    confirm.focus();
  });
  return button;
}

function renderPlayerCount() {
  const count = quiz.players.size;
  $("player-count").textContent = String(count);
  $("player-noun").textContent = count === 1 ? "player" : "players";
  // host_state is throttled: only compare it with a list it agrees with.
  const offline = quiz.participants === count && quiz.connected !== null && quiz.connected < count;
  $("connected-note").textContent = offline ? `(${quiz.connected} connected)` : "";
  $("no-players").hidden = count > 0;
}

// ------------------------------------------------------------------ starting, question, reveal

function showStarting(countdownMs) {
  setPhase("starting");
  startingCountdown.run(countdownMs);
  announce("The quiz is starting.");
  switchTo("starting");
}

/** The broadcasts say where the quiz is before the (throttled) host_state does: follow
 * them at once, so that e.g. Start is not left enabled through an auto-start. */
function setPhase(phase) {
  quiz.phase = phase;
  updateControls();
}

function renderQuestionHeader(index, text) {
  $("question-number").textContent = `Question ${index + 1} of ${quiz.questionCount}`;
  $("question-text").textContent = text;
}

function showQuestion(question) {
  startingCountdown.stop();
  quiz.question = question;
  quiz.questionCount = question.total;
  quiz.questionIndex = question.index;
  quiz.answered = 0;  // a new question starts with no answers; host_state follows
  setPhase("question");
  renderQuestionHeader(question.index, question.text);
  renderChoices(question);
  $("distribution").replaceChildren();
  $("reveal-extra").replaceChildren();
  $("explanation").hidden = true;
  renderAnswered();
  countdown.start(question);
  announce(`Question ${question.index + 1} of ${question.total}: ${question.text}`);
  switchTo("question");
}

/** The host does not answer: the choices are list items, not buttons.  A question
 * without choices says instead how the phones answer it. */
function renderChoices(question) {
  const kind = kindOf(question);
  $("choices").replaceChildren(...question.choices.map((text, i) =>
    el("li", { class: "choice", dataset: { choice: i } },
      el("span", { class: "letter" }, LETTERS[i]), el("span", { class: "text" }, text), el("span", { class: "mark" }))));
  const hint = {
    multiple: "Pick every right answer.",
    type_answer: "Type the answer on your phone.",
    slider: `Pick a number from ${question.min} to ${question.max} on your phone.`,
    poll: "A poll: no right answer.",
  }[kind];
  $("kind-hint").hidden = !hint;
  $("kind-hint").textContent = hint || "";
}

function renderAnswered() {
  const node = $("answered-count");
  if (quiz.answered === null) {
    delete node.dataset.answered;
    node.textContent = "—";
  } else {
    node.dataset.answered = String(quiz.answered);
    node.textContent = `${quiz.answered} of ${quiz.connected ?? quiz.players.size} answered`;
  }
}

function showReveal(reveal) {
  countdown.stop();
  setPhase("reveal");
  const question = quiz.question && quiz.question.questionId === reveal.questionId ? quiz.question : null;
  const kind = kindOf(reveal.kind ? reveal : question);
  // One answer per player in a choice list, or one value per player in the histogram
  // (a "pick many" player counts in several bars, a typed answer list shows the top 10).
  const counts = kind === "slider" ? reveal.histogram : ["single", "true_false", "poll"].includes(kind) ? reveal.distribution : null;
  if (counts) quiz.answered = counts.reduce((sum, count) => sum + count, 0);
  renderAnswered();
  const right = correctSet(reveal);
  for (const item of $("choices").children) {
    const correct = right.has(Number(item.dataset.choice));
    item.dataset.correct = String(correct);
    item.querySelector(".mark").textContent = correct ? "✓ Correct answer" : "";
  }
  renderDistribution(reveal, question, right);
  const extra = kindReveal(reveal, question);
  $("reveal-extra").replaceChildren(...(extra ? [extra] : []));
  $("distribution").hidden = !CHOICE_KINDS.has(kind);
  showExplanation($("explanation"), reveal);
  announce(`Time is up. ${revealAnnouncement(reveal, question, LETTERS)}`);
  switchTo("reveal");
}

/** One bar per choice, as long as its share of the most chosen one; letter and count as text too. */
function renderDistribution(reveal, question, right) {
  const distribution = reveal.distribution || [];
  const most = Math.max(1, ...distribution);
  $("distribution").replaceChildren(...distribution.map((count, i) => {
    const fill = el("span", { class: "fill" });
    fill.style.width = `${(100 * count) / most}%`;
    const correct = right.has(i);
    return el("li", { dataset: { choice: i, count, correct } },
      el("span", { class: "letter" }, LETTERS[i]),
      el("span", { class: "label" }, question ? question.choices[i] : "", correct ? " ✓" : ""),
      el("span", { class: "track", "aria-hidden": "true" }, fill),
      el("span", { class: "count" }, String(count),
        el("span", { class: "visually-hidden" }, count === 1 ? " answer" : " answers")));
  }));
}

// ------------------------------------------------------------------ leaderboards and the end

function showEnded(payload) {
  quiz.endedSeen = true;
  quiz.phase = "ended";
  saveSession(null);  // the quiz is over: a reload must not try to join it again
  countdown.stop();
  // DOM order is 1, 2, 3; host.css puts 2nd left, 1st middle, 3rd right.  Heights follow
  // the rank, so tied players stand equally high.
  const podium = payload.leaderboard.slice(0, 3).map((entry, i) =>
    boardRow(entry, { dataset: { place: i + 1, rank: entry.rank } }));
  $("podium").replaceChildren(...podium);
  renderBoard($("final-standings"), payload.leaderboard);
  $("no-results").hidden = payload.leaderboard.length > 0;
  $("final-total").textContent = `(${payload.total} players)`;
  const winner = payload.leaderboard[0];
  announce(winner ? `The quiz is over. ${winner.name} wins with ${winner.score} points.` : "The quiz is over.");
  updateControls();
  switchTo("ended");
}

// ------------------------------------------------------------------ host commands

/** Send a host command; the host_state reply arrives through onMessage.  Resolves true on success. */
async function command(type, payload = {}) {
  showActionError("");
  if (!connection) return false;
  try {
    await connection.request(type, payload);
    return true;
  } catch (error) {
    showActionError(`Could not ${type}: ${error.message}`);
    return false;
  }
}

/** Disable a button while its command runs, so a double click sends it once. */
async function commandButton(button, type, payload) {
  button.disabled = true;
  await command(type, payload);
  updateControls();
}

$("start").addEventListener("click", (event) => commandButton(event.currentTarget, "start"));
// Passing the index we show makes a retried click safe: it never skips a question.
$("next").addEventListener("click", (event) =>
  commandButton(event.currentTarget, "next", { questionIndex: quiz.questionIndex }));

/** An inline "are you sure?": `trigger` opens `box`, whose `yes` runs `action`. */
function confirmable(trigger, box, yes, no, action) {
  // Anything folded inside (the host token) is folded again each time: once shown on a
  // projector is no reason to show it again unasked.
  const show = (visible) => {
    $(box).hidden = !visible;
    for (const fold of $(box).querySelectorAll("details")) fold.open = false;
  };
  $(trigger).addEventListener("click", () => {
    show(true);
    $(yes).focus();
  });
  $(no).addEventListener("click", () => {
    show(false);
    $(trigger).focus();
  });
  $(yes).addEventListener("click", () => {
    show(false);
    action();
  });
}

confirmable("end", "end-confirm-box", "end-confirm", "end-cancel", () => commandButton($("end"), "end"));
// "Close this quiz screen" forgets the session here; the quiz itself keeps running.
confirmable("close-screen", "close-confirm", "close-yes", "close-no", () => backToSetup());

$("host-another").addEventListener("click", () => backToSetup());
$("back-to-setup").addEventListener("click", () => backToSetup());
$("reconnect").addEventListener("click", () => host(quiz.session));

// ------------------------------------------------------------------ start

const resumed = storedSession();
if (resumed) host(resumed);
else switchTo("setup");
