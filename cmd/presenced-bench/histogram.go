package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync"
)

// subBits sets the histogram's resolution: every power of two is split
// into 1<<subBits buckets, so a bucket is at most 1/128 of its lower bound
// wide and a reported percentile (the bucket's midpoint) is within 0.4% of
// a recorded value.
const subBits = 7

const (
	subCount   = 1 << subBits // buckets per power of two
	exactLimit = 2 * subCount // values below this have a bucket each
)

// Histogram counts non-negative int64 samples (nanoseconds, bytes) in
// log-linear buckets. Two histograms merge exactly, which is why workers
// send these and not percentiles. The zero value is empty and ready; it is
// not safe for concurrent use (see syncHistogram).
type Histogram struct {
	counts []uint64 // by bucket index; grown on demand
	n      uint64
	sum    float64
	min    int64
	max    int64
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < exactLimit {
		return int(u)
	}
	shift := bits.Len64(u) - (subBits + 1)
	return shift*subCount + int(u>>uint(shift))
}

// bucketBounds returns the lowest value of bucket i and its width.
func bucketBounds(i int) (low, width int64) {
	if i < exactLimit {
		return int64(i), 1
	}
	shift := i/subCount - 1
	m := int64(i - shift*subCount)
	return m << uint(shift), 1 << uint(shift)
}

// Record adds one sample; negative samples count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := bucketOf(v)
	h.grow(i+1, i/4)
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

// grow makes room for n buckets; when it must, it adds spare more, so
// that samples creeping upwards do not copy the counts every time.
func (h *Histogram) grow(n, spare int) {
	if n > len(h.counts) {
		grown := make([]uint64, n+spare)
		copy(grown, h.counts)
		h.counts = grown
	}
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	h.grow(len(o.counts), 0)
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample, exactly (0 when empty).
func (h *Histogram) Max() int64 { return h.max }

// Min is the smallest sample, exactly (0 when empty).
func (h *Histogram) Min() int64 { return h.min }

// Mean is the exact mean of the samples (0 when empty).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// samples lie: the sample of rank ceil(q·n), reported as the midpoint of its
// bucket and clamped to the exact min and max. Quantile(1) is the max,
// Quantile(0) the min; an empty histogram answers 0.
func (h *Histogram) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return h.min
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketBounds(i)
			v := low + (width-1)/2
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// histogramJSON is the wire form: only the buckets that hold samples, as
// [index, count] pairs, so a sparse histogram stays small.
type histogramJSON struct {
	N       uint64      `json:"n"`
	Sum     float64     `json:"sum"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
	Buckets [][2]uint64 `json:"buckets"`
}

// MarshalJSON encodes the histogram losslessly.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	out := histogramJSON{N: h.n, Sum: h.sum, Min: h.min, Max: h.max, Buckets: [][2]uint64{}}
	for i, c := range h.counts {
		if c > 0 {
			out.Buckets = append(out.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON wrote, checking that the bucket
// counts add up.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var in histogramJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("decoding histogram: %w", err)
	}
	*h = Histogram{n: in.N, sum: in.Sum, min: in.Min, max: in.Max}
	var total uint64
	for _, bc := range in.Buckets {
		i := int(bc[0])
		if i < 0 || i > bucketOf(math.MaxInt64) {
			return fmt.Errorf("decoding histogram: bucket %d out of range", bc[0])
		}
		h.grow(i+1, 0)
		h.counts[i] += bc[1]
		total += bc[1]
	}
	if total != in.N {
		return fmt.Errorf("decoding histogram: buckets hold %d samples, header says %d", total, in.N)
	}
	return nil
}

// syncHistogram is a Histogram shared by goroutines.
type syncHistogram struct {
	mu sync.Mutex
	h  Histogram
}

// Record adds one sample.
func (s *syncHistogram) Record(v int64) {
	s.mu.Lock()
	s.h.Record(v)
	s.mu.Unlock()
}

// Snapshot returns a copy of the samples so far.
func (s *syncHistogram) Snapshot() *Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.h
	c.counts = append([]uint64(nil), s.h.counts...)
	return &c
}
