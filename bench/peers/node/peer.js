// Baseline: a minimal quiz broadcast server on Node `ws`, the same message shapes as
// quizd for what the benchmark exercises (see ../asyncio_peer.py for the list).
//   node peer.js --port 0 --questions ../../questions.json   -> "peer ready port=<port>"
'use strict';
const fs = require('fs');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const questions = JSON.parse(fs.readFileSync(opt('--questions'), 'utf8'));
const TOP_N = 10;
const LEADERBOARD_INTERVAL_MS = 500;

const conns = new Set();        // joined connections, host included
const players = new Map();      // ws -> player
const scoreCounts = new Map([[0, 0]]);
let index = -1, open = false, nextId = 1, lbDirty = false, lbTimer = null;

function broadcast(obj) {
  const data = JSON.stringify(obj);
  for (const ws of conns) ws.send(data);
}
function rank(score) {
  let r = 1;
  for (const [s, n] of scoreCounts) if (s > score) r += n;
  return r;
}
function leaderboardPayload() {
  const top = [...players.values()].sort((a, b) => b.score - a.score || a.at - b.at).slice(0, TOP_N);
  let r = 0, prev = null;
  const entries = top.map((p, i) => {
    if (p.score !== prev) { r = i + 1; prev = p.score; }
    return { rank: r, participantId: p.id, name: p.name, score: p.score };
  });
  return { top: entries, total: players.size };
}
function broadcastLeaderboard() {
  lbDirty = false;
  broadcast({ type: 'leaderboard', payload: leaderboardPayload() });
}
function leaderboardTick() {
  if (!lbDirty) { lbTimer = null; return; }
  broadcastLeaderboard();
  lbTimer = setTimeout(leaderboardTick, LEADERBOARD_INTERVAL_MS);
}
function openQuestion(i) {
  const q = questions[i % questions.length];
  const now = Date.now();
  index = i; open = true;
  broadcast({ type: 'question', payload: {
    questionId: `q${i}`, index: i, total: questions.length, text: q.text, choices: q.choices,
    timeLimitMs: q.timeLimitMs, startedAt: now, endsAt: now + q.timeLimitMs, serverTime: now } });
}
function closeQuestion() {
  const q = questions[index % questions.length];
  open = false;
  const dist = q.choices.map(() => 0);
  for (const p of players.values()) if (p.answers.has(index)) dist[p.answers.get(index)] += 1;
  broadcast({ type: 'question_closed', payload: { questionId: `q${index}`, correctChoice: q.answer, distribution: dist } });
  broadcastLeaderboard();
}

const wss = new WebSocketServer({ host: opt('--host', '127.0.0.1'), port: Number(opt('--port', '0')), backlog: 4096,
  maxPayload: 4096, perMessageDeflate: false });
wss.on('listening', () => console.log(`peer ready port=${wss.address().port}`));
wss.on('connection', (ws) => {
  let player = null;
  ws.on('message', (raw) => {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    const type = msg.type, payload = msg.payload || {}, id = msg.id;
    if (type === 'join') {
      const role = 'hostToken' in payload ? 'host' : 'player';
      if (role === 'host') { index = -1; open = false; }  // a new run: the quiz starts over
      else {
        player = { id: `p${nextId}`, name: payload.name, score: 0, streak: 0, at: nextId, answers: new Map() };
        nextId += 1;
        players.set(ws, player);
        scoreCounts.set(0, scoreCounts.get(0) + 1);
      }
      conns.add(ws);
      ws.send(JSON.stringify({ type: 'joined', re: id, payload: {
        quizId: payload.quizId, participantId: player ? player.id : 'host', resumeToken: 'x', role,
        name: player ? player.name : null,
        quiz: { title: 'Bench', questionCount: questions.length, phase: 'lobby', questionIndex: index },
        score: 0, streak: 0, rank: 1, participants: players.size, leaderboard: [] } }));
    } else if (type === 'answer' && player) {
      if (!open || payload.questionId !== `q${index}` || player.answers.has(index)) {
        ws.send(JSON.stringify({ type: 'error', re: id, payload: { code: 'question_closed', message: 'no such open question' } }));
        return;
      }
      const choice = payload.choice;
      player.answers.set(index, choice);
      const correct = choice === questions[index % questions.length].answer;
      const points = correct ? 1000 + 100 * player.streak : 0;
      player.streak = correct ? player.streak + 1 : 0;
      if (points) {
        scoreCounts.set(player.score, scoreCounts.get(player.score) - 1);
        player.score += points;
        scoreCounts.set(player.score, (scoreCounts.get(player.score) || 0) + 1);
        lbDirty = true;
        if (lbTimer === null) leaderboardTick();
      }
      ws.send(JSON.stringify({ type: 'answer_result', re: id, payload: {
        questionId: payload.questionId, choice, correct, points, score: player.score, streak: player.streak,
        rank: rank(player.score) } }));
    } else if (type === 'start' || type === 'next') {
      if (open) closeQuestion(); else openQuestion(index + 1);
    } else if (type === 'end') {
      open = false;
      broadcast({ type: 'quiz_ended', payload: leaderboardPayload() });
    } else if (type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong', re: id, payload: { serverTime: Date.now() } }));
    }
  });
  ws.on('close', () => {
    conns.delete(ws);
    if (player && players.delete(ws)) scoreCounts.set(player.score, scoreCounts.get(player.score) - 1);
  });
  ws.on('error', () => {});
});
