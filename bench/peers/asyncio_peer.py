"""Baseline: a minimal quiz broadcast server on asyncio + ``websockets``.

The same message shapes as quizd for what the benchmark exercises: ``join`` ->
``joined``; the host's ``start``/``next`` open a question (a prebuilt ~600-byte
``question`` frame broadcast to everyone); ``next`` on an open question closes it
(``question_closed`` then ``leaderboard`` to everyone); ``answer`` -> ``answer_result``
(score, streak, rank), with a leaderboard broadcast at most every 500 ms while answers
change it; ``end`` -> ``quiz_ended``.  No validation beyond what the benchmark needs.

    python asyncio_peer.py --port 0 --questions bench/questions.json
prints ``peer ready port=<port>`` once listening.
"""

import argparse
import asyncio
import json
import time

from websockets.asyncio.server import broadcast, serve

TOP_N = 10
LEADERBOARD_INTERVAL_S = 0.5


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class Quiz:
    def __init__(self, questions):
        self.questions = questions  # [{"text", "choices", "answer", "timeLimitMs"}]
        self.conns = set()  # every joined connection, host included
        self.players = {}  # ws -> player dict
        self.index = -1
        self.open = False
        self.score_counts = {0: 0}  # score -> players with it (for ranks)
        self.lb_dirty = False
        self.lb_task = None
        self.next_id = 1

    def rank(self, score):
        return 1 + sum(n for s, n in self.score_counts.items() if s > score)

    def leaderboard_payload(self):
        top = sorted(self.players.values(), key=lambda p: (-p["score"], p["at"]))[:TOP_N]
        entries, rank, prev = [], 0, None
        for i, p in enumerate(top):
            if p["score"] != prev:
                rank, prev = i + 1, p["score"]
            entries.append({"rank": rank, "participantId": p["id"], "name": p["name"], "score": p["score"]})
        return {"top": entries, "total": len(self.players)}

    def broadcast_leaderboard(self):
        self.lb_dirty = False
        broadcast(self.conns, dumps({"type": "leaderboard", "payload": self.leaderboard_payload()}))

    async def leaderboard_loop(self):
        while self.lb_dirty:
            self.broadcast_leaderboard()
            await asyncio.sleep(LEADERBOARD_INTERVAL_S)
        self.lb_task = None

    def open_question(self, index):
        q = self.questions[index % len(self.questions)]
        now = int(time.time() * 1000)
        self.index, self.open = index, True
        broadcast(
            self.conns,
            dumps(
                {
                    "type": "question",
                    "payload": {
                        "questionId": f"q{index}",
                        "index": index,
                        "total": len(self.questions),
                        "text": q["text"],
                        "choices": q["choices"],
                        "timeLimitMs": q["timeLimitMs"],
                        "startedAt": now,
                        "endsAt": now + q["timeLimitMs"],
                        "serverTime": now,
                    },
                }
            ),
        )

    def close_question(self):
        q = self.questions[self.index % len(self.questions)]
        self.open = False
        dist = [0] * len(q["choices"])
        for p in self.players.values():
            if p["answers"].get(self.index) is not None:
                dist[p["answers"][self.index]] += 1
        broadcast(
            self.conns,
            dumps(
                {
                    "type": "question_closed",
                    "payload": {"questionId": f"q{self.index}", "correctChoice": q["answer"], "distribution": dist},
                }
            ),
        )
        self.broadcast_leaderboard()


async def handler(ws, quiz):
    player = None
    try:
        async for raw in ws:
            msg = json.loads(raw)
            mtype, payload, mid = msg.get("type"), msg.get("payload") or {}, msg.get("id")
            if mtype == "join":
                role = "host" if "hostToken" in payload else "player"
                if role == "host":
                    quiz.index, quiz.open = -1, False  # a new run: the quiz starts over
                else:
                    player = {
                        "id": f"p{quiz.next_id}",
                        "name": payload.get("name"),
                        "score": 0,
                        "streak": 0,
                        "at": quiz.next_id,
                        "answers": {},
                    }
                    quiz.next_id += 1
                    quiz.players[ws] = player
                    quiz.score_counts[0] += 1
                quiz.conns.add(ws)
                await ws.send(
                    dumps(
                        {
                            "type": "joined",
                            "re": mid,
                            "payload": {
                                "quizId": payload.get("quizId"),
                                "participantId": player["id"] if player else "host",
                                "resumeToken": "x",
                                "role": role,
                                "name": player["name"] if player else None,
                                "quiz": {
                                    "title": "Bench",
                                    "questionCount": len(quiz.questions),
                                    "phase": "lobby",
                                    "questionIndex": quiz.index,
                                },
                                "score": 0,
                                "streak": 0,
                                "rank": 1,
                                "participants": len(quiz.players),
                                "leaderboard": [],
                            },
                        }
                    )
                )
            elif mtype == "answer" and player is not None:
                index = quiz.index
                if not quiz.open or payload.get("questionId") != f"q{index}" or index in player["answers"]:
                    await ws.send(
                        dumps(
                            {
                                "type": "error",
                                "re": mid,
                                "payload": {"code": "question_closed", "message": "no such open question"},
                            }
                        )
                    )
                    continue
                choice = payload.get("choice")
                player["answers"][index] = choice
                correct = choice == quiz.questions[index % len(quiz.questions)]["answer"]
                points = (1000 + 100 * player["streak"]) if correct else 0
                player["streak"] = player["streak"] + 1 if correct else 0
                if points:
                    quiz.score_counts[player["score"]] -= 1
                    player["score"] += points
                    quiz.score_counts[player["score"]] = quiz.score_counts.get(player["score"], 0) + 1
                    quiz.lb_dirty = True
                    if quiz.lb_task is None:
                        quiz.lb_task = asyncio.create_task(quiz.leaderboard_loop())
                await ws.send(
                    dumps(
                        {
                            "type": "answer_result",
                            "re": mid,
                            "payload": {
                                "questionId": payload["questionId"],
                                "choice": choice,
                                "correct": correct,
                                "points": points,
                                "score": player["score"],
                                "streak": player["streak"],
                                "rank": quiz.rank(player["score"]),
                            },
                        }
                    )
                )
            elif mtype in ("start", "next"):
                if quiz.open:
                    quiz.close_question()
                else:
                    quiz.open_question(quiz.index + 1)
            elif mtype == "end":
                quiz.open = False
                broadcast(quiz.conns, dumps({"type": "quiz_ended", "payload": quiz.leaderboard_payload()}))
            elif mtype == "ping":
                await ws.send(dumps({"type": "pong", "re": mid, "payload": {"serverTime": int(time.time() * 1000)}}))
    finally:
        quiz.conns.discard(ws)
        if quiz.players.pop(ws, None) is not None:
            quiz.score_counts[player["score"]] -= 1


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--questions", required=True, help="JSON file: a list of {text, choices, answer, timeLimitMs}")
    args = parser.parse_args()
    with open(args.questions) as f:
        quiz = Quiz(json.load(f))
    async with serve(
        lambda ws: handler(ws, quiz), args.host, args.port, compression=None, backlog=4096, max_size=4096
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"peer ready port={port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
