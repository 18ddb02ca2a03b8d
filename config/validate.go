package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Validate checks each value (types are already right by construction) and
// the rules between keys, returning the first problem as a *Error. Load calls
// it; it is exported for callers that build or adjust a Config by hand.
func (c *Config) Validate() error {
	for _, f := range fields {
		if p := f.problem(f.get(c)); p != "" {
			return &Error{Key: f.key, Problem: p}
		}
	}
	checks := []func(*Config) *Error{checkListen, checkAuth, checkPresence, checkLimits, checkStore, checkCluster, checkPorts}
	for _, check := range checks {
		if err := check(c); err != nil {
			return err
		}
	}
	return nil
}

// checkListen: listen must be host:port with a numeric port, as net.Listen
// would otherwise fail only after the store has been opened.
func checkListen(c *Config) *Error {
	if p := hostPortProblem(c.Listen); p != "" {
		return &Error{Key: "listen", Problem: p}
	}
	return nil
}

// checkAuth: dev mode trusts whatever user id the client names, so it is
// refused unless only this machine can connect: the listen host must be
// loopback, and an empty host (":8080") means all interfaces. jwt mode needs
// a key to check tokens with (a secret, a public key, or both: then tokens
// are checked with the key matching their algorithm).
func checkAuth(c *Config) *Error {
	switch c.Auth.Mode {
	case AuthDev:
		host, _, _ := net.SplitHostPort(c.Listen) // checkListen has passed
		if !isLoopback(host) {
			return &Error{Key: "auth.mode", Problem: fmt.Sprintf(
				`"dev" needs a loopback listen address (127.0.0.1, ::1 or localhost), and listen is %q`, c.Listen)}
		}
	case AuthJWT:
		if c.Auth.JWT.Secret == "" && c.Auth.JWT.PublicKeyFile == "" {
			return &Error{Key: "auth.jwt.secret", Problem: "is not set, nor is auth.jwt.public_key_file; " +
				"jwt auth needs one of them (or auth.mode: dev for local development)"}
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// checkPresence: a timeout shorter than the interval clients are told to use
// would close healthy connections between two heartbeats. Equal is allowed,
// as CONFIG.md only forbids shorter.
func checkPresence(c *Config) *Error {
	p := c.Presence
	if p.HeartbeatTimeout < p.HeartbeatInterval {
		return &Error{Key: "presence.heartbeat_timeout", Problem: fmt.Sprintf(
			"%s is shorter than presence.heartbeat_interval (%s), so healthy connections would be closed",
			p.HeartbeatTimeout, p.HeartbeatInterval)}
	}
	return nil
}

// checkLimits: message content travels inside one frame, so a content limit
// above the frame limit could never be reached and hides a mistake.
func checkLimits(c *Config) *Error {
	l := c.Limits
	if int64(l.MaxMessageBytes) > l.MaxFrameBytes {
		return &Error{Key: "limits.max_message_bytes", Problem: fmt.Sprintf(
			"%d is larger than limits.max_frame_bytes (%d), so such a message could never arrive",
			l.MaxMessageBytes, l.MaxFrameBytes)}
	}
	return nil
}
