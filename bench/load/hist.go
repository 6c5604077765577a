package load

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's resolution: 2^subBits buckets per power of
// two, so a percentile is within 1/128 (0.8%) of the exact value.
const subBits = 7

// hist is a log-linear latency histogram in nanoseconds: bounded memory
// whatever the run's length, exact below 128 ns, 0.8% above. One worker
// owns each; they are merged after the run.
type hist struct {
	n      uint64
	max    time.Duration
	counts []uint64
}

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits
	return (shift+1)<<subBits | int((v>>shift)&(1<<subBits-1))
}

// bucketMax is the largest value of bucket i.
func bucketMax(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	mant := uint64(i&(1<<subBits-1)) | 1<<subBits
	return (mant+1)<<shift - 1
}

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucketOf(uint64(d))
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *hist) merge(o *hist) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the upper
// bound of the bucket that holds it, never above the maximum seen.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(time.Duration(bucketMax(i)), h.max)
		}
	}
	return h.max
}
