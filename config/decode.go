package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Decoding turns one raw layer value into the key's Go type, key by key, so
// that an error can name the key. A generic decoder (mapstructure) would
// either coerce YAML's "5" into 5 when weakly typed, or, when strict, refuse
// the strings that the environment and flags can only give.

// decode converts raw to the field's type. text is true for values from the
// environment and flags, which are always strings to be parsed; YAML values
// must already be of the right kind.
func (f field) decode(raw any, text bool) (any, string) {
	if text {
		return f.decodeText(raw.(string))
	}
	return f.decodeYAML(raw)
}

func (f field) decodeText(s string) (any, string) {
	switch f.ref(&Config{}).(type) {
	case *string:
		return s, ""
	case *[]string:
		return splitList(s), ""
	case *time.Duration:
		return parseDuration(s)
	case *int:
		n, p := parseInt(s, strconv.IntSize)
		return int(n), p
	case *int64:
		return parseInt(s, 64)
	case *float64:
		return parseFloat(s)
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Sprintf("%q is not true or false", s)
		}
		return b, ""
	}
	panic("config: unsupported field type for " + f.key)
}

func (f field) decodeYAML(raw any) (any, string) {
	switch f.ref(&Config{}).(type) {
	case *string:
		return yamlString(raw)
	case *[]string:
		return yamlList(raw)
	case *time.Duration:
		return yamlDuration(raw)
	case *int:
		n, p := yamlInt(raw)
		return int(n), p
	case *int64:
		return yamlInt(raw)
	case *float64:
		return yamlFloat(raw)
	case *bool:
		if b, ok := raw.(bool); ok {
			return b, ""
		}
		return nil, describe(raw) + " is not true or false"
	}
	panic("config: unsupported field type for " + f.key)
}

// splitList reads a comma-separated list. Items are trimmed and empty ones
// dropped, so "a, b," is [a b] and "" is the empty list (a way to clear a
// list set by an earlier layer).
func splitList(s string) []string {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func parseDuration(s string) (any, string) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Sprintf("%q is not a duration (like 30s)", s)
	}
	return d, ""
}

func parseInt(s string, bits int) (int64, string) {
	n, err := strconv.ParseInt(s, 10, bits)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Sprintf("%q is too large", s)
	}
	if err != nil {
		return 0, fmt.Sprintf("%q is not a whole number", s)
	}
	return n, ""
}

func parseFloat(s string) (any, string) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, fmt.Sprintf("%q is not a number", s)
	}
	return x, ""
}
