"""The cluster: membership and the hash ring, leases with fencing, snapshots, the relay.

Only used when ``[cluster].redis_url`` is set.  Everything here reaches Redis through
``RedisPort`` (redis-py in Trio worker threads with a limiter and timeouts): the event
loop never blocks on the network.
"""
