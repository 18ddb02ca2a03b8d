package config

import (
	"fmt"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
)

const (
	envPrefix = "PRESENCED_"
	// envConfig names the config file; it is not a key.
	envConfig = envPrefix + "CONFIG"
	// envTestPrefix is reserved for the test suite's own settings
	// (PRESENCED_TEST_POSTGRES_URL): no key starts with "test", and a shell
	// that ran the tests must still start the server.
	envTestPrefix = envPrefix + "TEST_"
)

// Load builds the effective configuration from the defaults, the YAML file,
// the environment and the flags, in that order, and validates it. args are
// the arguments after the program name (and after a subcommand such as
// "config", which the caller strips); environ is in os.Environ's form.
//
// Every configuration problem is returned as a *Error. When the values all
// loaded but contradict each other (Validate failed), the Config is returned
// beside the error, so that `presenced config` can still show what it read.
// -h or --help returns ErrHelp.
func Load(args []string, environ []string) (*Config, error) {
	fl, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	layers, err := readLayers(fl, environ)
	if err != nil {
		return nil, err
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(flatten(Default()), "."), nil); err != nil {
		return nil, fmt.Errorf("config: loading defaults: %w", err)
	}
	for _, l := range layers {
		typed, err := l.decode()
		if err != nil {
			return nil, err
		}
		if err := k.Load(confmap.Provider(typed, "."), nil); err != nil {
			return nil, fmt.Errorf("config: merging: %w", err)
		}
	}
	cfg := &Config{}
	for _, f := range fields {
		f.set(cfg, k.Get(f.key))
	}
	return cfg, cfg.Validate()
}

// flatten returns c as dotted key -> typed value, the form koanf is fed.
func flatten(c *Config) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		m[f.key] = f.get(c)
	}
	return m
}

// readLayers returns the file, environment and flag layers, lowest first.
func readLayers(fl flags, environ []string) ([]layer, error) {
	var layers []layer
	if path, via := configPath(fl, environ); path != "" {
		l, err := fileLayer(path, via)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return append(layers, envLayer(environ), flagLayer(fl.sets)), nil
}

// configPath prefers --config over PRESENCED_CONFIG, as flags override the
// environment everywhere else.
func configPath(fl flags, environ []string) (path, via string) {
	if fl.configPath != "" {
		return fl.configPath, "--config"
	}
	for _, kv := range environ {
		if name, v, _ := strings.Cut(kv, "="); name == envConfig && v != "" {
			path = v // the last one wins, as with a shell's environment
		}
	}
	if path == "" {
		return "", ""
	}
	return path, envConfig
}
