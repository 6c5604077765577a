package ledger

import (
	"container/list"
	"sync"
)

// lruCache is a size-bounded LRU of byte slices that never change once
// stored, so it needs no invalidation. It is sharded so that concurrent
// readers rarely contend.
type lruCache[K comparable] struct {
	shards  [16]lruShard[K]
	shardOf func(K) uint64
}

type lruEntry[K comparable] struct {
	key K
	val []byte
}

type lruShard[K comparable] struct {
	mu   sync.Mutex
	max  int
	used int
	m    map[K]*list.Element
	lru  list.List
}

// entryOverhead approximates the memory of one entry beyond its value.
const entryOverhead = 160

// newLRUCache returns a cache of at most maxBytes (values and
// entryOverhead each), spread over its shards by shardOf.
func newLRUCache[K comparable](maxBytes int64, shardOf func(K) uint64) *lruCache[K] {
	c := &lruCache[K]{shardOf: shardOf}
	for i := range c.shards {
		c.shards[i].max = int(maxBytes / int64(len(c.shards)))
		c.shards[i].m = make(map[K]*list.Element)
	}
	return c
}

func (c *lruCache[K]) shard(k K) *lruShard[K] {
	return &c.shards[c.shardOf(k)%uint64(len(c.shards))]
}

// get returns the cached value of k; callers MUST NOT modify it.
func (c *lruCache[K]) get(k K) []byte {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*lruEntry[K]).val
	}
	return nil
}

// put caches v, which the cache then owns, under k.
func (c *lruCache[K]) put(k K, v []byte) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; ok {
		return
	}
	s.m[k] = s.lru.PushFront(&lruEntry[K]{key: k, val: v})
	s.used += len(v) + entryOverhead
	for s.used > s.max && s.lru.Len() > 0 {
		old := s.lru.Remove(s.lru.Back()).(*lruEntry[K])
		delete(s.m, old.key)
		s.used -= len(old.val) + entryOverhead
	}
}
