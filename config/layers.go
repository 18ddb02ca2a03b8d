package config

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// layer is one source of settings, flattened to dotted keys.
type layer struct {
	values map[string]any
	// text is true when values are strings still to be parsed (environment
	// and flags), false when they come typed from YAML.
	text bool
	// origin says where a key was set, for error messages.
	origin func(key string) string
}

// fileLayer reads the YAML file; koanf flattens it to dotted keys.
func fileLayer(path, via string) (layer, error) {
	k := koanf.New(".")
	err := k.Load(file.Provider(path), yaml.Parser())
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr):
		return layer{}, &Error{Key: path, Problem: fmt.Sprintf("cannot read the config file given by %s: %v", via, pathErr.Err), Err: err}
	case err != nil:
		return layer{}, &Error{Key: path, Problem: "is not a valid YAML configuration: " + err.Error(), Err: err}
	}
	return layer{values: k.All(), origin: func(string) string { return "in " + path }}, nil
}

// envLayer reads PRESENCED_* variables from environ (not os.Environ, so tests
// and cmd decide what is seen). PRESENCED_PRESENCE__HEARTBEAT_TIMEOUT becomes
// presence.heartbeat_timeout: only "__" separates levels, because keys
// themselves contain single underscores.
func envLayer(environ []string) layer {
	names := make(map[string]string) // key -> variable name, for messages
	p := env.Provider("", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if name == envConfig || strings.HasPrefix(name, envTestPrefix) {
				return "", nil // the file's name (read by configPath), or the tests' own
			}
			key := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, envPrefix), "__", "."))
			names[key] = name
			return key, value
		},
	})
	// With no delimiter the provider returns the flat map as is, and its
	// Read never fails.
	values, _ := p.Read()
	return layer{values: values, text: true, origin: func(key string) string { return "from " + names[key] }}
}

// flagLayer turns --set and --listen into a layer; for a key given twice the
// later flag wins.
func flagLayer(sets []setting) layer {
	values := make(map[string]any, len(sets))
	via := make(map[string]string, len(sets))
	for _, s := range sets {
		values[s.key] = s.value
		via[s.key] = s.flag
	}
	return layer{values: values, text: true, origin: func(key string) string { return "from " + via[key] }}
}

// decode checks every key of the layer against the known set and converts
// its value, returning the typed flat map for koanf. Keys are visited in
// sorted order so that the error reported is the same on every run.
func (l layer) decode() (map[string]any, error) {
	keys := make([]string, 0, len(l.values))
	for key := range l.values {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	typed := make(map[string]any, len(keys))
	for _, key := range keys {
		raw := l.values[key]
		f, known := byKey[key]
		if !known {
			if sections[key] && isEmptySection(raw) {
				continue // "auth:" with nothing under it sets nothing
			}
			return nil, &Error{Key: key, Problem: unknownKey(key) + " (" + l.origin(key) + ")"}
		}
		v, problem := f.decode(raw, l.text)
		if problem == "" {
			problem = f.problem(v)
		}
		if problem != "" {
			return nil, &Error{Key: key, Problem: problem + " (" + l.origin(key) + ")"}
		}
		typed[key] = v
	}
	return typed, nil
}

func isEmptySection(raw any) bool {
	m, isMap := raw.(map[string]any)
	return raw == nil || (isMap && len(m) == 0)
}

// unknownKey explains an unknown key, suggesting the nearest known one:
// most unknown keys are typos (presence.heartbeat_timout).
func unknownKey(key string) string {
	if sections[key] {
		return "is a section, not a key; set the keys under it"
	}
	best, bestDist := "", 4 // suggest only within three edits
	for _, f := range fields {
		if d := editDistance(key, f.key); d < bestDist {
			best, bestDist = f.key, d
		}
	}
	if best == "" {
		return "unknown key"
	}
	return fmt.Sprintf("unknown key; did you mean %s?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
