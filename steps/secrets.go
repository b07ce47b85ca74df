package steps

import (
	"regexp"
	"strings"

	"github.com/etcd-dr/etcd-dr/steps/termsafe"
)

// Output read from nodes carries secrets the runbook never asked for: `cat`
// of a manifest prints its --token=… flags and password envs, a kubeconfig
// its client key, a misdirected command a private key, an error a URL with
// a password. They must reach neither the screen nor the journal,
// transcript, headless output or JSON, which outlive the incident (tickets,
// chat). No kept library fits: secret detectors report findings in a string
// but know nothing of YAML's structure across lines (a block scalar, an env
// whose name comes after its value), which is where Kubernetes keeps them.
//
// A scrubber redacts one stream (one command's stdout, one error) line by
// line, with a little state across lines: a PEM block, a secret's block
// scalar, an env entry whose value came before its name (held back until
// its name is seen, so it is never shown early).
type scrubber struct {
	inPEM bool
	// nextValue: the previous line named a secret env; its value follows.
	nextValue bool
	// block: inside a secret's block scalar, whose lines are indented
	// deeper than blockIndent.
	block       bool
	blockIndent int
	// held are the lines of a list item that began with `value:`, held
	// until its name says whether the value is secret; heldIndent is the
	// item's key indentation.
	held       []string
	heldIndent int
	releasing  bool // replaying held lines: hold nothing again
}

// maxHeld bounds a held item: an item this long without a name is redacted
// (failing closed) rather than buffered without end.
const maxHeld = 64

const redacted = "<redacted>"

var (
	// A flag whose name may say it holds a secret, with its value.
	flagRE = regexp.MustCompile(`(^|[\s"'\[,(])(--?[A-Za-z0-9_.-]+)(=|\s+)("[^"]*"|'[^']*'|[^\s'"]+)`)
	// A shell, env-file or ini assignment: ETCD_PASSWORD=…, key = value.
	assignRE = regexp.MustCompile(`(^|[\s;"'{,(])((?:export\s+)?[A-Za-z0-9_.]+)(\s?=\s?)("[^"]*"|'[^']*'|[^\s'"]+)`)
	// A YAML or JSON key at the start of a line: the value is the rest.
	yamlKeyRE = regexp.MustCompile(`^(\s*(?:-\s+)*)(["']?)([A-Za-z0-9_.-]+)(["']?\s*:)(\s+|\s*["'])(.*)$`)
	// A key inside a flow mapping or JSON object: {password: x}, {"token":"y"}.
	flowKeyRE = regexp.MustCompile(`([{,]\s*)(["']?)([A-Za-z0-9_.-]+)(["']?\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,{}\[\]]+)`)
	// One flow mapping or JSON object without nesting: an env entry.
	flowMapRE   = regexp.MustCompile(`\{[^{}]*\}`)
	flowNameRE  = regexp.MustCompile(`["']?name["']?\s*:\s*["']?([A-Za-z0-9_.-]+)`)
	flowValueRE = regexp.MustCompile(`(["']?value["']?\s*:\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,}\]]+)`)
	// A YAML list item's name or value line.
	envNameRE  = regexp.MustCompile(`^(\s*)(-\s+)?name:\s*["']?([A-Za-z0-9_.-]+)["']?\s*$`)
	envValueRE = regexp.MustCompile(`^(\s*)(-\s+)?value:(\s*)(.*)$`)
	// Credentials shaped so they need no name beside them.
	urlUserRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]+):[^\s/@]+@`)
	bearerRE  = regexp.MustCompile(`(?i)\b(bearer\s+|authorization:\s*(?:basic|bearer|token|digest)?\s*)[A-Za-z0-9._~+/=:-]+`)
	shapedRE  = regexp.MustCompile(`\b(?:(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}|xox[abposr]-[A-Za-z0-9-]{10,})\b`)
	pemRE     = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)
	// etcdctl --user root:password
	userPassRE = regexp.MustCompile(`(--user(?:=|\s+)["']?[^:\s"']+):[^\s"']+`)
)

// secretWords mark a name whose value is a secret; notSecretSuffixes mark
// names that hold paths or public values the operator needs to see (the new
// cluster token is shown at the restore gate on purpose: it is an
// identifier, not a credential).
var (
	secretWords = []string{"token", "password", "passwd", "passphrase", "secret", "credential", "apikey", "api-key", "api_key",
		"private-key", "privatekey", "private_key", "key-data", "keydata", "access-key", "access_key", "accesskey"}
	notSecretSuffixes = []string{"file", "dir", "path", "cluster-token", "cluster_token", "clustertoken", "name", "ref", "hash", "ttl", "-mode"}
)

// secretName reports whether a key, flag or variable named n holds a secret.
func secretName(n string) bool {
	n = strings.ToLower(strings.TrimLeft(n, "-"))
	n = strings.TrimPrefix(n, "export ")
	n = strings.TrimSpace(n)
	for _, s := range notSecretSuffixes {
		if strings.HasSuffix(n, s) {
			return false
		}
	}
	if n == "auth" || n == "pwd" || n == "pass" || strings.HasSuffix(n, ".key") {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// keptValue is a value never worth hiding (a flag's boolean, an empty one).
func keptValue(v string) bool {
	v = strings.Trim(v, `"'`)
	return v == "" || v == "true" || v == "false"
}

// Scrub returns text, possibly many lines (an error quoting a node's
// stderr), with every secret it recognises replaced by <redacted>.
func Scrub(text string) string {
	if !strings.Contains(text, "\n") {
		return scrubInline(text) // a line alone: no state to carry
	}
	var s scrubber
	var out []string
	for l := range strings.SplitSeq(text, "\n") {
		out = s.push(l, out)
	}
	return strings.Join(s.flush(out), "\n")
}

// Clean is Scrub then termsafe.Text: what every exit of the engine applies
// to text that came from a node, a snapshot or an error.
func Clean(text string) string { return termsafe.Text(Scrub(text)) }

// CleanLine is Clean for one line of output (newlines shown as \n).
func CleanLine(text string) string { return termsafe.Line(scrubInline(text)) }

// push scrubs one line and appends what may be shown now to out (nothing
// while an item's value waits for its name).
func (s *scrubber) push(text string, out []string) []string {
	if s.held != nil {
		var done bool
		if out, done = s.holdOrRelease(text, out); done {
			return out
		}
	}
	return s.line(text, out)
}

// flush releases lines still held at the end of the stream: an item that
// never named itself is shown as it was.
func (s *scrubber) flush(out []string) []string {
	out = s.release(false, out)
	*s = scrubber{}
	return out
}

// line scrubs one line and appends it to out, unless it starts a held item.
func (s *scrubber) line(text string, out []string) []string {
	if s.inPEM {
		if strings.Contains(text, "-----END ") {
			s.inPEM = false
		}
		return append(out, redacted)
	}
	if s.block {
		if ind := indentOf(text); strings.TrimSpace(text) == "" || ind > s.blockIndent {
			return append(out, text[:ind]+redacted)
		}
		s.block = false
	}
	if i := strings.Index(text, "-----BEGIN "); i >= 0 && strings.Contains(text, "PRIVATE KEY") && !strings.Contains(text[i:], "-----END ") {
		s.inPEM = true
		return append(out, scrubInline(text[:i])+"<redacted private key>")
	}
	nextValue := s.nextValue
	s.nextValue = false
	if !strings.Contains(text, "value:") && !strings.Contains(text, "name:") && !endsInBlock(text) {
		return append(out, scrubInline(text)) // the bulk of any log: no rule below can match
	}
	if m := envValueRE.FindStringSubmatch(text); m != nil {
		switch {
		case nextValue:
			return append(out, s.secretValue(text, m))
		case m[2] != "" && !s.releasing: // `- value: …` starts an item: its name comes later
			s.held, s.heldIndent = []string{text}, len(m[1])+len(m[2])
			return out
		}
	}
	if m := envNameRE.FindStringSubmatch(text); m != nil && secretName(m[3]) {
		s.nextValue = true
	}
	if m := yamlKeyRE.FindStringSubmatch(text); m != nil && secretName(m[3]) && blockIndicator(m[6]) {
		s.block, s.blockIndent = true, len(m[1])
		return append(out, text)
	}
	return append(out, scrubInline(text))
}

// secretValue redacts the value line of a secret env (m matched envValueRE),
// starting a block when the value is a block scalar.
func (s *scrubber) secretValue(text string, m []string) string {
	if blockIndicator(m[4]) {
		s.block, s.blockIndent = true, len(m[1])+len(m[2])
		return text
	}
	return text[:len(text)-len(m[4])] + redacted
}

// holdOrRelease takes the next line of a held item: it names the item
// (release, redacted when the name is secret), continues it (hold), or
// ends it (release as it was). done says the line was consumed.
func (s *scrubber) holdOrRelease(text string, out []string) ([]string, bool) {
	ind := indentOf(text)
	trimmed := strings.TrimSpace(text)
	if m := envNameRE.FindStringSubmatch(text); m != nil && m[2] == "" && len(m[1]) == s.heldIndent {
		out = s.release(secretName(m[3]), out)
		return append(out, scrubInline(text)), true
	}
	if trimmed == "" || ind > s.heldIndent || (ind == s.heldIndent && !strings.HasPrefix(trimmed, "-")) {
		s.held = append(s.held, text)
		if len(s.held) >= maxHeld {
			out = s.release(true, out)
		}
		return out, true
	}
	return s.release(false, out), false
}

// release appends the held item, its value redacted when secret.
func (s *scrubber) release(secret bool, out []string) []string {
	held := s.held
	s.held = nil
	// The value line is the secret env's value; a block scalar under it
	// ends within the item, which the name line closed.
	sub := scrubber{releasing: true, nextValue: secret}
	for _, l := range held {
		out = sub.line(l, out)
	}
	return out
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " \t")) }

// endsInBlock reports a line whose value is a block scalar's indicator.
func endsInBlock(text string) bool {
	t := strings.TrimRight(text, " ")
	if i := strings.LastIndexByte(t, ':'); i >= 0 {
		return blockIndicator(t[i+1:])
	}
	return false
}

func blockIndicator(v string) bool {
	v = strings.TrimSpace(v)
	return v != "" && (v[0] == '|' || v[0] == '>') && len(v) <= 3
}

// scrubInline redacts the secrets one line holds by itself.
func scrubInline(text string) string {
	if !mayHoldSecret(text) {
		return text // the bulk of any log: one pass over the bytes, no regexp
	}
	// Each rule runs only when its own marker is there: most lines that
	// pass the filter above hold one marker, not all.
	if strings.Contains(text, "-----BEGIN ") {
		text = pemRE.ReplaceAllString(text, "<redacted private key>")
	}
	if strings.Contains(text, "://") && strings.Contains(text, "@") {
		text = urlUserRE.ReplaceAllString(text, "${1}:"+redacted+"@")
	}
	if strings.Contains(text, "--user") {
		text = userPassRE.ReplaceAllString(text, "${1}:"+redacted)
	}
	if shapedMarker(text) {
		text = shapedRE.ReplaceAllString(text, redacted)
	}
	if containsFold(text, "bearer") || containsFold(text, "authorization") {
		text = bearerRE.ReplaceAllString(text, "${1}"+redacted)
	}
	if strings.Contains(text, "-") {
		text = replaceNamed(flagRE, text, 2, 4)
	}
	if strings.Contains(text, "=") {
		text = replaceNamed(assignRE, text, 2, 4)
	}
	if !strings.Contains(text, ":") {
		return text
	}
	if strings.ContainsAny(text, "{,") {
		text = replaceNamed(flowKeyRE, text, 3, 5)
		text = flowEnv(text)
	}
	if m := yamlKeyRE.FindStringSubmatchIndex(text); m != nil {
		name, v := text[m[6]:m[7]], text[m[12]:m[13]]
		if secretName(name) && !keptValue(v) && !strings.HasPrefix(v, redacted) && !blockIndicator(v) {
			text = text[:m[12]] + redacted + closingQuote(text[m[10]:m[11]])
		}
	}
	return text
}

// replaceNamed redacts group val of every match of re whose group name
// names a secret.
func replaceNamed(re *regexp.Regexp, text string, name, val int) string {
	return re.ReplaceAllStringFunc(text, func(m string) string {
		p := re.FindStringSubmatchIndex(m)
		v := m[p[2*val]:p[2*val+1]]
		if !secretName(m[p[2*name]:p[2*name+1]]) || keptValue(v) || v == redacted {
			return m
		}
		return m[:p[2*val]] + redacted + m[p[2*val+1]:]
	})
}

// flowEnv redacts the value of a flow-style or JSON env entry whose name
// is secret, in either order: {name: X_PASSWORD, value: y}.
func flowEnv(text string) string {
	if !strings.Contains(text, "{") {
		return text
	}
	return flowMapRE.ReplaceAllStringFunc(text, func(m string) string {
		n := flowNameRE.FindStringSubmatch(m)
		if n == nil || !secretName(n[1]) {
			return m
		}
		return flowValueRE.ReplaceAllString(m, "${1}"+redacted)
	})
}

func closingQuote(opened string) string {
	if q := strings.TrimSpace(opened); q == `"` || q == `'` {
		return q
	}
	return ""
}
