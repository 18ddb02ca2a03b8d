package config

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// masked replaces secrets in Print's output.
const masked = "***"

// Print writes the configuration as YAML: every key, in CONFIG.md's order,
// durations as Go duration strings, secrets masked. The output is a valid
// config file; loading it gives the same configuration once the masked
// secrets are supplied again.
func (c *Config) Print(w io.Writer) error {
	root := &yaml.Node{Kind: yaml.MappingNode}
	for _, f := range fields {
		parent, name := section(root, f.key)
		value, err := valueNode(printable(f, f.get(c)))
		if err != nil {
			return fmt.Errorf("config: printing %s: %w", f.key, err)
		}
		parent.Content = append(parent.Content, keyNode(name), value)
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root},
		HeadComment: "presenced effective configuration (secrets masked)"}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("config: printing: %w", err)
	}
	return enc.Close()
}

// section returns the mapping that holds key's last part, creating the
// mappings of its sections on the way. fields keeps each section's keys
// together, so looking only at the last entry of a mapping suffices.
func section(root *yaml.Node, key string) (*yaml.Node, string) {
	parts := strings.Split(key, ".")
	node := root
	for _, part := range parts[:len(parts)-1] {
		n := len(node.Content)
		if n >= 2 && node.Content[n-2].Value == part && node.Content[n-1].Kind == yaml.MappingNode {
			node = node.Content[n-1]
			continue
		}
		child := &yaml.Node{Kind: yaml.MappingNode}
		node.Content = append(node.Content, keyNode(part), child)
		node = child
	}
	return node, parts[len(parts)-1]
}

func keyNode(name string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}
}

// printable masks secrets and turns durations into their Go spelling.
func printable(f field, v any) any {
	switch f.key {
	case "auth.jwt.secret":
		if v != "" {
			return masked
		}
	case "store.postgres.url":
		return maskURL(v.(string))
	}
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	return v
}

// valueNode encodes v. Lists are written in flow style, ["a", "b"], which
// keeps the output as compact as the table in CONFIG.md; their items are
// always quoted, as flow style has more characters that need it (":", ",").
func valueNode(v any) (*yaml.Node, error) {
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	if n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
		for _, item := range n.Content {
			item.Style = yaml.DoubleQuotedStyle
		}
	}
	doubleQuote(n)
	return n, nil
}

// doubleQuote switches a string that YAML must quote in block style from the
// encoder's single quotes to double quotes, so that every quoted value looks alike
// ("", "***", "a:6330") whichever the encoder would have picked.
func doubleQuote(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return
	}
	if plain, err := yaml.Marshal(n.Value); err == nil && strings.HasPrefix(string(plain), "'") {
		n.Style = yaml.DoubleQuotedStyle
	}
}

// maskURL hides the password of a postgres URL, both in the user info and in
// a password= query parameter (pgx reads either). A URL that does not parse
// is hidden whole, since where its password is cannot be told.
func maskURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return masked
	}
	u.RawQuery = maskQueryPassword(u.RawQuery)
	if _, has := u.User.Password(); !has {
		return u.String()
	}
	// Put the mask in by hand: url.UserPassword would escape it to %2A%2A%2A.
	user := url.User(u.User.Username()).String()
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://" + user + ":" + masked + "@" + rest
}

// maskQueryPassword works on the raw query, not url.Values, so that the
// other parameters keep their order and spelling.
func maskQueryPassword(raw string) string {
	if raw == "" {
		return ""
	}
	params := strings.Split(raw, "&")
	for i, p := range params {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == "password" {
			params[i] = "password=" + masked
		}
	}
	return strings.Join(params, "&")
}
