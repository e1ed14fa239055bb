"""The Lua scripts that make Redis itself the judge of membership, leases and fencing.

A lease is ``quizd:lease:<quiz>`` = ``"<node>|<nonce>|<epoch>"`` with a time to live:
the nonce is drawn by each process at start, so two processes configured with the
same ``[node] id`` never hold, renew or release each other's leases.  The epoch comes
from ``INCR quizd:epoch:<quiz>`` and only ever grows; every acquisition takes a new
one, even by the node that held the quiz before.  Every snapshot write runs
``FENCED_WRITE``, which refuses the write unless the lease still names the writer and
its epoch: a node that lost its lease (partitioned, paused, presumed dead) cannot
change a quiz that another node has taken over, whatever it believes.
"""

# KEYS: members, nodes, claim of this id.  ARGV: node id, info, node timeout ms, nonce.
# The claim ``quizd:node:<id>`` names the process (nonce) that heartbeats under an id;
# another process with the same id is refused (``{0, holder's nonce}``) while the claim
# lives, and never enters the members.
HEARTBEAT = """
local claim = redis.call('GET', KEYS[3])
if claim and claim ~= ARGV[4] then
  return {0, claim}
end
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 10 * tonumber(ARGV[3]))
return {1, redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[3]), '+inf')}
"""

# KEYS: members, nodes, claim.  ARGV: node id, nonce.  Only the claiming process leaves.
LEAVE = """
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return 0
end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

# KEYS: lease, epoch.  ARGV: "<node>|<nonce>", lease ms.  A held lease is never handed
# back, not even to its holder: whoever acquires gets a new epoch, so no two copies of
# a quiz (two processes, or one process before and after a failed hand-over) can
# share a token.
ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local epoch = redis.call('INCR', KEYS[2])
-- The epoch must outlive every snapshot of the quiz; a week is far beyond any linger.
redis.call('PEXPIRE', KEYS[2], 604800000)
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
return epoch
"""

# KEYS: lease, snapshot.  ARGV: token, lease ms, now (wall ms), snapshot ttl ms.
# The owner's liveness is stamped into the snapshot, so a takeover freezes the quiz
# clock from the owner's last sign of life, not from its last (maybe old) write.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'alive', ARGV[3])
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
  end
  return 1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# KEYS: lease, snapshot hash, quiz registry.  ARGV: token, ttl_ms, quiz id, definition id,
# meta, number of removed participants, definition ('' unless a full write), the removed
# ids, then participant id/record pairs.
FENCED_WRITE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[7] ~= '' then
  -- A full write (new quiz, or resync): nothing of an older snapshot may survive.
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'def', ARGV[7])
end
redis.call('HSET', KEYS[2], 'meta', ARGV[5])
local removed = tonumber(ARGV[6])
local i = 8
for _ = 1, removed do
  redis.call('HDEL', KEYS[2], 'p:' .. ARGV[i])
  i = i + 1
end
while i < #ARGV do
  redis.call('HSET', KEYS[2], 'p:' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return 1
"""
