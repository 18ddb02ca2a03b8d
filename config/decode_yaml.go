package config

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// YAML values arrive as the YAML decoder typed them: string, int (int64 or
// uint64 when large), float64, bool, time.Time, []any, map[string]any or nil.

// yamlString accepts strings only; nil ("secret:" with nothing after it)
// means unset. A number where a string belongs is refused rather than
// printed back, because YAML has already lost its spelling (0x10, 1e3, 010).
func yamlString(raw any) (any, string) {
	switch s := raw.(type) {
	case string:
		return s, ""
	case nil:
		return "", ""
	case []any, map[string]any:
		return nil, describe(raw) + " is not a string"
	}
	return nil, describe(raw) + " is not a string (put it in quotes)"
}

func yamlList(raw any) (any, string) {
	switch items := raw.(type) {
	case nil:
		return []string{}, ""
	case []any:
		out := make([]string, 0, len(items))
		for i, item := range items {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Sprintf("item %d, %s, is not a string", i+1, describe(item))
			}
			out = append(out, s)
		}
		return out, ""
	}
	return nil, describe(raw) + " is not a list (write [a, b])"
}

// yamlDuration takes Go duration strings. A bare 0 is accepted as well, as
// time.ParseDuration does, since "no delay" needs no unit; any other bare
// number is refused because its unit would be a guess.
func yamlDuration(raw any) (any, string) {
	switch v := raw.(type) {
	case string:
		return parseDuration(v)
	case int:
		if v == 0 {
			return time.Duration(0), ""
		}
	}
	return nil, describe(raw) + " is not a duration (like 30s)"
}

func yamlInt(raw any) (int64, string) {
	switch v := raw.(type) {
	case int:
		return int64(v), ""
	case int64:
		return v, ""
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), ""
		}
		return 0, describe(raw) + " is too large"
	case string:
		return 0, quotedNumber(v, "a whole number")
	}
	return 0, describe(raw) + " is not a whole number"
}

func yamlFloat(raw any) (any, string) {
	switch v := raw.(type) {
	case int:
		return float64(v), ""
	case int64:
		return float64(v), ""
	case uint64:
		return float64(v), ""
	case float64:
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, ""
		}
	case string:
		return nil, quotedNumber(v, "a number")
	}
	return nil, describe(raw) + " is not a number"
}

// quotedNumber explains a number written as a YAML string: "5" is a common
// slip, and "is not a number" alone would be baffling for it.
func quotedNumber(s, want string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return fmt.Sprintf("%q is a string, not %s (write it without quotes)", s, want)
	}
	return fmt.Sprintf("%q is not %s", s, want)
}

// describe shows a raw YAML value in an error message.
func describe(raw any) string {
	switch v := raw.(type) {
	case nil:
		return "an empty value"
	case string:
		return strconv.Quote(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a section"
	case time.Time:
		return v.Format(time.RFC3339)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return fmt.Sprint(raw)
}
