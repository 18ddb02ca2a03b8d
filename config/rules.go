package config

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Rules on single values. Each returns the problem, or "" when the value is
// fine. They run on every layer as it is decoded and again in Validate.

// positive refuses zero and negative numbers and durations: every key using
// it is a size, a count, a rate or a timeout, where zero would mean "nothing
// ever fits" or "time out at once", never "unlimited".
func positive(v any) string {
	if sign(v) > 0 {
		return ""
	}
	return fmt.Sprintf("%s must be greater than zero", show(v))
}

// notNegative allows zero: a zero grace or coalescing window just means
// "send at once".
func notNegative(v any) string {
	if sign(v) >= 0 {
		return ""
	}
	return fmt.Sprintf("%s must not be negative", show(v))
}

func sign(v any) int {
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case float64:
		f = n
	case time.Duration:
		f = float64(n)
	default:
		panic(fmt.Sprintf("config: sign of %T", v))
	}
	switch {
	case f > 0:
		return 1
	case f < 0:
		return -1
	}
	return 0
}

// portRule accepts TCP ports from lowest to 65535.
func portRule(lowest int) func(any) string {
	return func(v any) string {
		if p := v.(int); p < lowest || p > 65535 {
			return fmt.Sprintf("%d is not a port (%d-65535)", p, lowest)
		}
		return ""
	}
}

// noEmptyItems refuses "" in a list: it would be an origin or endpoint that
// matches nothing, almost always a stray comma or an empty YAML item.
func noEmptyItems(v any) string {
	for i, s := range v.([]string) {
		if s == "" {
			return fmt.Sprintf("item %d is empty", i+1)
		}
	}
	return ""
}

// allHostPort is for cluster.seeds, which other members dial as given.
func allHostPort(v any) string {
	for _, s := range v.([]string) {
		if p := hostPortProblem(s); p != "" {
			return p
		}
	}
	return ""
}

// hostPortProblem requires host:port with a numeric port. Service names
// (":http") are refused: they depend on /etc/services and read as typos.
func hostPortProblem(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q does not end in a port number (0-65535)", s)
	}
	return ""
}

// show formats a decoded value the way a user would write it.
func show(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case time.Duration:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}
