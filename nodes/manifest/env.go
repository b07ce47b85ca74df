package manifest

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// ParseEtcdEnv reads the member from an etcd environment file (systemd mode,
// e.g. kubespray's /etc/etcd.env: ETCD_NAME=..., ETCD_DATA_DIR=...). In this
// mode etcd runs on the host, so HostDataDir is DataDir.
func ParseEtcdEnv(data []byte) (EtcdMember, error) {
	env, err := parseEnv(data)
	if err != nil {
		return EtcdMember{}, err
	}
	get := func(flag string) (string, bool) {
		e, ok := env[envKey(flag)]
		return e.value, ok
	}
	m, err := memberFrom(get, envKey)
	if err != nil {
		return EtcdMember{}, err
	}
	return m, nil
}

// envKey turns an etcd flag name into its environment variable.
func envKey(flag string) string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

type envEntry struct {
	value string
	line  int
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseEnv reads KEY=VALUE lines as systemd's EnvironmentFile does for the
// forms etcd env files use: comments (# or ;), blank lines, unquoted values
// (surrounding whitespace trimmed), and whole-value single or double quotes.
// Forms it could misread (line continuations, backslashes outside quotes,
// text after a closing quote) are refused with their line, not guessed at.
func parseEnv(data []byte) (map[string]envEntry, error) {
	env := make(map[string]envEntry)
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envName.MatchString(key) {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", n, clip(line))
		}
		v, err := envValue(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", n, key, err)
		}
		env[key] = envEntry{value: v, line: n}
	}
	return env, nil
}

func envValue(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch v[0] {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 || end+2 != len(v) {
			return "", fmt.Errorf("single quote not closed at the end of the line")
		}
		return v[1 : end+1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; {
			case c == '\\' && i+1 < len(v):
				i++
				b.WriteByte(v[i])
			case c == '"':
				if i != len(v)-1 {
					return "", fmt.Errorf("text after the closing double quote")
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", fmt.Errorf("double quote not closed at the end of the line (multi-line values are not supported)")
	}
	if strings.ContainsRune(v, '\\') {
		return "", fmt.Errorf("backslash in an unquoted value (escape or line continuation): edit this line by hand")
	}
	return v, nil
}

// EditEtcdEnv sets key to value in an environment file: every line setting
// key is rewritten (systemd keeps the last; no stale copy may remain), or the
// line is appended. Other lines keep their bytes. The value is written
// unquoted, because docker's --env-file (kubespray's container mode) reads the
// same file and does not strip quotes; a value that cannot be written
// unquoted (quotes, backslash, '$', '`', control characters, surrounding
// spaces) is refused.
func EditEtcdEnv(data []byte, key, value string) ([]byte, error) {
	if !envName.MatchString(key) {
		return nil, fmt.Errorf("set %q: not an environment variable name", key)
	}
	if strings.ContainsAny(value, "\"'\\$`") || strings.TrimSpace(value) != value || hasControl(value) {
		return nil, fmt.Errorf("set %s to %q: the value holds characters an env file cannot carry unquoted (quote, backslash, $, `, control characters or surrounding spaces); choose a plain value", key, value)
	}
	before, err := parseEnv(data)
	if err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	found := false
	for i, l := range lines {
		k, _, ok := strings.Cut(strings.TrimSpace(string(l)), "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		eol := l[len(bytes.TrimRight(l, "\r\n")):]
		lines[i] = append([]byte(key+"="+value), eol...)
		found = true
	}
	out := bytes.Join(lines, nil)
	if !found {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, key+"="+value+"\n"...)
	}
	after, err := parseEnv(out)
	if err != nil || after[key].value != value || len(after) != len(before)+boolInt(!found) {
		return nil, fmt.Errorf("set %s: the edited file does not read back as intended; edit it by hand", key)
	}
	return out, nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clip shortens a line for a message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
