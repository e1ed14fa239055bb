"""``ClusterDelivery``: the owner's Delivery port when participants sit on any gateway.

Participants connected to this node are local sessions (the same non-blocking path
as a single node); the others are ``RemoteEndpoint``s reached through the relay.  A
broadcast is encoded once, fanned out to the local sessions, and sent once to each
other gateway that has participants of the quiz.
"""

from __future__ import annotations

from typing import Any

from quizd.cluster.messages import BroadcastAll, CloseOne, JoinAccepted, SendOne
from quizd.cluster.owner import RemoteEndpoint
from quizd.cluster.transport import RelayTransport
from quizd.game.handoffs import HandoffLog
from quizd.gateway.delivery import LocalDelivery
from quizd.protocol import errors as E


class ClusterDelivery(LocalDelivery):
    def __init__(self, quiz_id: str, relay: RelayTransport) -> None:
        super().__init__(quiz_id)
        self.relay = relay
        self.remote: dict[str, RemoteEndpoint] = {}

    def _is_remote(self, endpoint: Any) -> bool:
        return isinstance(endpoint, RemoteEndpoint)

    def bind(self, participant_id: str, endpoint: Any) -> None:
        old_local = self.sessions.pop(participant_id, None)
        old_remote = self.remote.pop(participant_id, None)
        if self._is_remote(endpoint):
            self.remote[participant_id] = endpoint
            self.relay.post(endpoint.node, JoinAccepted(endpoint.conn, self.quiz_id, participant_id))
        else:
            self.sessions[participant_id] = endpoint
        if old_local is not None and old_local is not endpoint:
            old_local.close_soon(E.CLOSE_REPLACED, "replaced by a newer connection")
        if old_remote is not None and old_remote != endpoint:
            self._close_remote(old_remote, E.CLOSE_REPLACED, "replaced by a newer connection")

    def _registry(self, endpoint: object) -> dict[str, Any]:
        return self.remote if self._is_remote(endpoint) else self.sessions

    def send(self, participant_id: str, msg_type: str, body: bytes) -> None:
        endpoint = self.remote.get(participant_id)
        if endpoint is None:
            super().send(participant_id, msg_type, body)
            return
        self.relay.post(endpoint.node, SendOne(endpoint.conn, msg_type, body.decode()))

    async def broadcast(
        self,
        msg_type: str,
        body: bytes,
        *,
        replaceable: bool = False,
        handoff: HandoffLog | None = None,
    ) -> None:
        self._post_to_gateways(msg_type, body, replaceable, handoff.question_id if handoff is not None else None)
        await super().broadcast(msg_type, body, replaceable=replaceable, handoff=handoff)

    async def broadcast_pair(self, msg_type: str, body: bytes, latest_type: str, latest_body: bytes) -> None:
        self._post_to_gateways(msg_type, body, False, None)
        self._post_to_gateways(latest_type, latest_body, True, None)
        await super().broadcast_pair(msg_type, body, latest_type, latest_body)

    def _post_to_gateways(self, msg_type: str, body: bytes, replaceable: bool, question_id: str | None) -> None:
        """The broadcast, once to each other gateway with participants of the quiz."""
        gateways = {endpoint.node for endpoint in self.remote.values()}
        text = body.decode()
        for node in gateways:
            self.relay.post(node, BroadcastAll(self.quiz_id, msg_type, text, replaceable, question_id))

    def close(self, participant_id: str, code: int, reason: str) -> None:
        endpoint = self.remote.pop(participant_id, None)
        if endpoint is not None:
            self._close_remote(endpoint, code, reason)
            return
        super().close(participant_id, code, reason)

    def _close_remote(self, endpoint: RemoteEndpoint, code: int, reason: str) -> None:
        self.relay.post(endpoint.node, CloseOne(endpoint.conn, code, reason))

    def endpoints_on(self, node_id: str) -> list[tuple[str, RemoteEndpoint]]:
        """Participants connected through ``node_id`` (it died: they are disconnected)."""
        return [(pid, ep) for pid, ep in self.remote.items() if ep.node == node_id]
