"""The relay: messages between gateways and quiz owners through Redis Streams.

A player's connection stays on the node it reached (its gateway); the quiz runs on
its owner.  ``Relay`` puts the three parts together: the ``RelayTransport`` (this
node's two streams, batched writes), the ``OwnerSide`` (messages about quizzes this
node runs) and the ``GatewaySide`` (this node's connections in quizzes run
elsewhere).  Each decoded message goes to one side, chosen by its class.

A broadcast crosses Redis once per gateway node (one ``BroadcastAll``), never once per
player; the gateway frames it once and fans it out like its own quizzes' broadcasts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from quizd.cluster.gateway_side import GatewaySide
from quizd.cluster.messages import RelayMessage, ToGateway, ToOwner
from quizd.cluster.owner import OwnerSide, RpcHandler
from quizd.cluster.redis_port import RedisPort
from quizd.cluster.transport import RelayTransport

if TYPE_CHECKING:
    from quizd.router import QuizHandle


class Relay:
    """This node's end of the relay: one transport, the owner side and the gateway side."""

    def __init__(
        self,
        port: RedisPort,
        node_id: str,
        local_actor: Callable[[str], QuizHandle | None],
        on_rpc: RpcHandler,
    ) -> None:
        self.node_id = node_id
        self.transport = RelayTransport(port, node_id, self._deliver)
        self.owner = OwnerSide(self.transport, local_actor, on_rpc)
        self.gateway = GatewaySide(self.transport)
        self.post = self.transport.post

    def _deliver(self, message: RelayMessage) -> None:
        if isinstance(message, ToOwner):
            self.owner.handle(message)
        elif isinstance(message, ToGateway):
            self.gateway.handle(message)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.transport.run(task_status=task_status)
