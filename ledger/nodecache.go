package ledger

import (
	"container/list"
	"math/bits"
	"sync"
)

// cachedLevel is the lowest level whose node records the node cache keeps:
// the record of leaf k is cached iff trailing-zeros(k+1) ≥ cachedLevel, so
// the cache holds one record per 2^cachedLevel leaves and every node of
// level ≥ cachedLevel. Those nodes are shared by many proofs; the few
// lower ones are read from storage.
const cachedLevel = 4

func cacheable(k uint64) bool { return bits.TrailingZeros64(k+1) >= cachedLevel }

// nodeCache is a size-bounded LRU of node records below the durable tree
// size. Stored hashes never change once written, so it needs no
// invalidation. It is sharded so that concurrent readers rarely contend.
type nodeCache struct {
	shards [16]nodeShard
}

type nodeKey struct {
	org  *orgInfo
	leaf uint64
}

type nodeEntry struct {
	key nodeKey
	rec []byte
}

type nodeShard struct {
	mu   sync.Mutex
	max  int
	used int
	m    map[nodeKey]*list.Element
	lru  list.List
}

// entryOverhead approximates the memory of one entry beyond its record.
const entryOverhead = 160

func newNodeCache(maxBytes int64) *nodeCache {
	c := &nodeCache{}
	for i := range c.shards {
		c.shards[i].max = int(maxBytes / int64(len(c.shards)))
		c.shards[i].m = make(map[nodeKey]*list.Element)
	}
	return c
}

func (c *nodeCache) shard(k nodeKey) *nodeShard {
	return &c.shards[(k.leaf>>cachedLevel)%uint64(len(c.shards))]
}

// get returns the cached record of k's leaf; callers MUST NOT modify it.
func (c *nodeCache) get(k nodeKey) []byte {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*nodeEntry).rec
	}
	return nil
}

func (c *nodeCache) put(k nodeKey, rec []byte) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return
	}
	s.m[k] = s.lru.PushFront(&nodeEntry{key: k, rec: rec})
	s.used += len(rec) + entryOverhead
	for s.used > s.max && s.lru.Len() > 0 {
		old := s.lru.Remove(s.lru.Back()).(*nodeEntry)
		delete(s.m, old.key)
		s.used -= len(old.rec) + entryOverhead
	}
}
