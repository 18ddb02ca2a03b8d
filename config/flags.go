package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrHelp is returned by Load when the arguments ask for help (-h, --help).
// The caller prints Usage and exits successfully.
var ErrHelp = errors.New("config: help requested")

// Usage describes the flags Load understands.
const Usage = `Flags:
  --config FILE       read a YAML configuration file (or PRESENCED_CONFIG=FILE)
  --set KEY=VALUE     set one key, like --set presence.heartbeat_timeout=30s;
                      repeatable, lists are comma-separated
  --listen ADDR       shortcut for --set listen=ADDR
Environment: PRESENCED_ + the key in upper case, "__" between levels,
  like PRESENCED_STORE__DRIVER=postgres.
`

// flags is the parsed command line.
type flags struct {
	configPath string    // "" when --config is absent
	sets       []setting // --set and --listen, in the order given
}

// setting is one --set (or --listen) from the command line.
type setting struct {
	key, value string
	flag       string // the flag that gave it, for error messages
}

// parseFlags reads --config, --set and --listen, each as "--name value" or
// "--name=value", with one or two dashes as the flag package allows. The
// flag package itself is not used because --set and --listen must keep
// their relative order (the later one wins) and its errors are not one line
// naming the flag.
func parseFlags(args []string) (flags, error) {
	var fl flags
	for i := 0; i < len(args); i++ {
		name, value, inline := splitFlag(args[i])
		switch name {
		case "":
			return fl, &Error{Key: args[i], Problem: "unexpected argument; see --help"}
		case "h", "help":
			return fl, ErrHelp
		case "config", "set", "listen":
		default:
			return fl, &Error{Key: "--" + name, Problem: "unknown flag (known: --config, --set, --listen)"}
		}
		if !inline {
			if i+1 == len(args) {
				return fl, &Error{Key: "--" + name, Problem: "needs a value"}
			}
			i++
			value = args[i]
		}
		if err := fl.add(name, value); err != nil {
			return fl, err
		}
	}
	return fl, nil
}

// splitFlag returns the name of a flag argument without its dashes, and the
// value written after "=", if any. name is "" when arg is not a flag.
func splitFlag(arg string) (name, value string, inline bool) {
	if !strings.HasPrefix(arg, "-") {
		return "", "", false
	}
	arg = strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if arg == "" || strings.HasPrefix(arg, "-") {
		return "", "", false
	}
	name, value, inline = strings.Cut(arg, "=")
	return name, value, inline
}

func (fl *flags) add(name, value string) error {
	switch name {
	case "config":
		if value == "" {
			return &Error{Key: "--config", Problem: "needs a file name"}
		}
		fl.configPath = value
	case "listen":
		fl.sets = append(fl.sets, setting{key: "listen", value: value, flag: "--listen"})
	case "set":
		key, v, ok := strings.Cut(value, "=")
		if !ok || strings.TrimSpace(key) == "" {
			return &Error{Key: "--set", Problem: fmt.Sprintf("%q is not key=value", value)}
		}
		fl.sets = append(fl.sets, setting{key: strings.TrimSpace(key), value: v, flag: "--set"})
	}
	return nil
}
