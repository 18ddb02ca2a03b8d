package persistence

import (
	"slices"
	"strings"
	"testing"
)

func TestSizedQueryChunksCoverEveryRowWithKnownTexts(t *testing.T) {
	q := newSizedQuery(128, func(n int) string { return strings.Repeat("x", n) })
	for rows := range 1000 {
		lens := q.chunks(rows)
		sum := 0
		for _, n := range lens {
			if _, ok := q.texts[n]; !ok {
				t.Fatalf("%d rows: chunk of %d has no text", rows, n)
			}
			sum += n
		}
		if sum != rows {
			t.Fatalf("%d rows: chunks %v cover %d", rows, lens, sum)
		}
		if !slices.IsSortedFunc(lens, func(a, b int) int { return b - a }) {
			t.Fatalf("%d rows: chunks %v not largest first", rows, lens)
		}
	}
	if got := q.chunks(300); !slices.Equal(got, []int{128, 128, 32, 8, 4}) {
		t.Fatalf("300 rows: %v", got)
	}
}

func TestValueRowsNumbersPlaceholdersAcrossRows(t *testing.T) {
	if got, want := valueRows(2, 2, nil), "($1, $2), ($3, $4)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// SQLite runs the sized statements with anonymous parameters; statements
// whose parameters are out of order or repeated keep their numbers.
func TestAnonymousParamsOnlyWhereOrderAllows(t *testing.T) {
	text := qSetWatermarks.text(2)
	got := anonymousParams(text)
	if strings.Contains(got, "$") || strings.Count(got, "?") != 6 {
		t.Fatalf("sized statement rewritten to %q", got)
	}
	for _, q := range []string{`UPDATE t SET a = $2 WHERE id = $1`, `SELECT $1, $1`, `SELECT $1, $3`} {
		if got := anonymousParams(q); got != q {
			t.Fatalf("%q rewritten to %q", q, got)
		}
	}
}
