package main

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestBucketsAreContiguousAndNarrow(t *testing.T) {
	last := bucketOf(math.MaxInt64)
	next := int64(0)
	for i := 0; i <= last; i++ {
		low, width := bucketBounds(i)
		if low != next {
			t.Fatalf("bucket %d starts at %d, want %d", i, low, next)
		}
		if got := bucketOf(low); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", low, got, i)
		}
		if got := bucketOf(low + width - 1); got != i {
			t.Fatalf("bucketOf(%d), the end of bucket %d, = %d", low+width-1, i, got)
		}
		if low >= exactLimit && float64(width)/float64(low) > 1.0/subCount {
			t.Fatalf("bucket %d is %d wide at %d: coarser than 1/%d", i, width, low, subCount)
		}
		if i == last {
			break
		}
		next = low + width
	}
}

// exactQuantile is the sample of rank ceil(q·n) in sorted xs.
func exactQuantile(xs []int64, q float64) int64 {
	rank := int(math.Ceil(q * float64(len(xs))))
	return xs[max(rank, 1)-1]
}

func TestQuantilesAreWithinTheBucketResolution(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	xs := make([]int64, 100_000)
	for i := range xs {
		// Log-normal around 2 ms, like latencies, plus a few exact small ones.
		xs[i] = int64(math.Exp(r.NormFloat64()*1.2) * 2e6)
		if i%1000 == 0 {
			xs[i] = int64(i % 200)
		}
		h.Record(xs[i])
	}
	slices.Sort(xs)
	for _, q := range []float64{0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		want := exactQuantile(xs, q)
		got := h.Quantile(q)
		if rel := math.Abs(float64(got-want)) / math.Max(1, float64(want)); rel > 1.0/(2*subCount)+1e-9 {
			t.Errorf("q%.4f = %d, exact %d: off by %.3f%%", q, got, want, rel*100)
		}
	}
	if h.Quantile(1) != xs[len(xs)-1] || h.Quantile(0) != xs[0] {
		t.Errorf("extremes %d..%d, want %d..%d", h.Quantile(0), h.Quantile(1), xs[0], xs[len(xs)-1])
	}
	if h.Count() != uint64(len(xs)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestQuantileOfSmallSets(t *testing.T) {
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Max() != 0 || empty.Mean() != 0 {
		t.Fatal("an empty histogram answers non-zero")
	}
	var h Histogram
	for _, v := range []int64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100} {
		h.Record(v)
	}
	// Values below 256 have a bucket each: exact ranks.
	for q, want := range map[float64]int64{0.5: 50, 0.9: 90, 0.91: 100, 0.99: 100, 0.1: 10, 0.11: 20} {
		if got := h.Quantile(q); got != want {
			t.Errorf("q%.2f = %d, want %d", q, got, want)
		}
	}
	if h.Mean() != 55 {
		t.Errorf("mean %v", h.Mean())
	}
	var neg Histogram
	neg.Record(-5)
	if neg.Min() != 0 || neg.Count() != 1 {
		t.Errorf("a negative sample is not counted as 0")
	}
}

func TestMergeEqualsRecordingEverythingInOne(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var a, b, c, all Histogram
	for i := range 30_000 {
		v := r.Int64N(5e9)
		if i%7 == 0 {
			v = r.Int64N(300)
		}
		switch i % 3 {
		case 0:
			a.Record(v)
		case 1:
			b.Record(v)
		default:
			c.Record(v)
		}
		all.Record(v)
	}
	var merged Histogram
	merged.Merge(&b)
	merged.Merge(&a)
	merged.Merge(&Histogram{}) // merging nothing changes nothing
	merged.Merge(&c)
	if merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() {
		t.Fatalf("merged n=%d %d..%d, want n=%d %d..%d", merged.Count(), merged.Min(), merged.Max(), all.Count(), all.Min(), all.Max())
	}
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		if merged.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%.3f merged %d, direct %d", q, merged.Quantile(q), all.Quantile(q))
		}
	}
	mj, _ := json.Marshal(&merged)
	aj, _ := json.Marshal(&all)
	var m1, m2 histogramJSON
	_ = json.Unmarshal(mj, &m1)
	_ = json.Unmarshal(aj, &m2)
	if !slices.Equal(m1.Buckets, m2.Buckets) || m1.N != m2.N {
		t.Error("merged buckets differ from recording everything in one")
	}
	if math.Abs(m1.Sum-m2.Sum) > 1e-6*m2.Sum {
		t.Errorf("sums %v and %v", m1.Sum, m2.Sum)
	}
}

func TestHistogramJSONRoundTrip(t *testing.T) {
	var h Histogram
	for _, v := range []int64{0, 1, 255, 256, 1e3, 1e6, 5e6, 5e6, 1e9, math.MaxInt64} {
		h.Record(v)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 0.3, 0.5, 0.8, 0.95, 1} {
		if back.Quantile(q) != h.Quantile(q) {
			t.Errorf("q%.2f after the round trip %d, before %d", q, back.Quantile(q), h.Quantile(q))
		}
	}
	if back.Count() != h.Count() || back.Mean() != h.Mean() {
		t.Error("count or mean changed in the round trip")
	}
	for _, bad := range []string{
		`{"n":2,"buckets":[[3,1]]}`,      // counts do not add up
		`{"n":1,"buckets":[[999999,1]]}`, // no such bucket
		`{"n":1,"buckets":"not a list"}`, // not JSON of the shape
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s decoded without an error", bad)
		}
	}
}

func TestSyncHistogramSnapshotIsACopy(t *testing.T) {
	var s syncHistogram
	s.Record(5)
	snap := s.Snapshot()
	s.Record(7)
	if snap.Count() != 1 || s.Snapshot().Count() != 2 {
		t.Fatal("the snapshot changed with the histogram")
	}
}
