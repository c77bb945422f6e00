"""Observe: what is in a cluster (nodes, pods, events, usage, security and autoscaling
summaries), served from a watch-fed cache (`cache.ObserveHub`, on `AppContext.observe`)
and from direct reads where a cache would not pay off."""
