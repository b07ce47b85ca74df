package steps

import (
	"regexp"
	"strings"
)

// Output read from nodes carries secrets the runbook never asked for:
// `cat` of a manifest prints its --token=… flags and password envs, a
// misdirected command may print a private key. They must reach neither the
// screen nor the transcript, which outlive the incident (tickets, chat). A
// scrubber redacts them line by line; it keeps state across the lines of
// one command (a PEM block, a YAML env's name before its value).
type scrubber struct {
	inPEM     bool
	nextValue bool // the previous line named a secret env: its value follows
}

var (
	// A flag or key whose name says it holds a secret, with its value.
	secretFlag = regexp.MustCompile(`(?i)(--?[a-z0-9_.-]*(?:token|password|passwd|secret|credential|api-?key)[a-z0-9_.-]*)(=|\s+)("[^"]*"|'[^']*'|[^\s'"]+)`)
	// A shell or env-file assignment: ETCD_PASSWORD=…
	// (Not a flag's tail: --initial-cluster-token=… is the flag rule's.)
	secretAssign = regexp.MustCompile(`(?i)(^|[\s;"'{,])([a-z0-9_]*(?:token|password|passwd|secret|credential|api_?key)[a-z0-9_]*)=("[^"]*"|'[^']*'|[^\s'"]+)`)
	// A YAML env entry's name (its value comes on the next line).
	secretEnvName = regexp.MustCompile(`(?i)^\s*-?\s*name:\s*["']?[a-z0-9_.-]*(?:token|password|passwd|secret|credential|api_?key)[a-z0-9_.-]*["']?\s*$`)
	yamlValue     = regexp.MustCompile(`^(\s*-?\s*value:\s*)(.+)$`)
	bearer        = regexp.MustCompile(`(?i)(bearer\s+)[a-z0-9._~+/=-]+`)
)

// notSecret are names that match the patterns but hold paths or public
// values the operator needs to see (the new cluster token is shown at the
// restore gate on purpose: it is an identifier, not a credential).
func notSecret(name string) bool {
	n := strings.ToLower(strings.Trim(name, "-"))
	for _, suffix := range []string{"file", "dir", "path", "cluster-token", "cluster_token"} {
		if strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

// line returns text with every secret it recognises replaced by <redacted>.
func (s *scrubber) line(text string) string {
	if s.inPEM {
		if strings.Contains(text, "-----END ") {
			s.inPEM = false
		}
		return "<redacted>"
	}
	if strings.Contains(text, "-----BEGIN ") && strings.Contains(text, "PRIVATE KEY") {
		s.inPEM = !strings.Contains(text, "-----END ")
		return "<redacted private key>"
	}
	if s.nextValue {
		s.nextValue = false
		if m := yamlValue.FindStringSubmatch(text); m != nil {
			return m[1] + "<redacted>"
		}
	}
	if secretEnvName.MatchString(text) {
		s.nextValue = true
	}
	return scrubInline(text)
}

// scrubInline redacts the secrets one line holds by itself.
func scrubInline(text string) string {
	text = secretFlag.ReplaceAllStringFunc(text, func(m string) string {
		p := secretFlag.FindStringSubmatch(m)
		if notSecret(p[1]) {
			return m
		}
		return p[1] + p[2] + "<redacted>"
	})
	text = secretAssign.ReplaceAllStringFunc(text, func(m string) string {
		p := secretAssign.FindStringSubmatch(m)
		if notSecret(p[2]) {
			return m
		}
		return p[1] + p[2] + "=<redacted>"
	})
	return bearer.ReplaceAllString(text, "${1}<redacted>")
}
