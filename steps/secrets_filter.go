package steps

import "strings"

// mayHoldSecret reports whether text holds any word or shape a rule above
// looks for, in one pass without allocating: node output floods at tens of
// thousands of lines a second and almost none of it holds a secret.
func mayHoldSecret(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] | 0x20 { // ASCII lower case (and harmless for other bytes)
		case 't':
			if hasFold(s[i:], "token") {
				return true
			}
		case 'p':
			if hasFold(s[i:], "pass") || hasFold(s[i:], "pwd") || hasFold(s[i:], "priv") {
				return true
			}
		case 's':
			if hasFold(s[i:], "secret") {
				return true
			}
		case 'c':
			if hasFold(s[i:], "cred") {
				return true
			}
		case 'k':
			if hasFold(s[i:], "key") {
				return true
			}
		case 'a':
			if hasFold(s[i:], "auth") || hasFold(s[i:], "api") || hasFold(s[i:], "akia") || hasFold(s[i:], "asia") ||
				hasFold(s[i:], "abia") || hasFold(s[i:], "acca") || hasFold(s[i:], "access") {
				return true
			}
		case 'b':
			if hasFold(s[i:], "bearer") {
				return true
			}
		case 'e':
			if strings.HasPrefix(s[i:], "eyJ") {
				return true
			}
		case 'g':
			if hasFold(s[i:], "gh") && len(s) > i+3 && s[i+3] == '_' || hasFold(s[i:], "github_pat") {
				return true
			}
		case 'x':
			if hasFold(s[i:], "xox") {
				return true
			}
		case 'u':
			if hasFold(s[i:], "user") {
				return true
			}
		case 'v':
			if hasFold(s[i:], "value") {
				return true
			}
		case ':' | 0x20:
			if strings.HasPrefix(s[i:], "://") {
				return true
			}
		}
	}
	return false
}

// shapedMarker reports text may hold a credential recognised by its shape.
func shapedMarker(s string) bool {
	for _, m := range []string{"AKIA", "ASIA", "ABIA", "ACCA", "eyJ", "xox", "github_pat_"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	for i := strings.Index(s, "gh"); i >= 0 && i+3 < len(s); {
		if s[i+3] == '_' {
			return true
		}
		j := strings.Index(s[i+1:], "gh")
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// containsFold is strings.Contains ignoring ASCII case; sub is lower case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if hasFold(s[i:], sub) {
			return true
		}
	}
	return false
}

// hasFold is strings.HasPrefix ignoring ASCII case; prefix is lower case.
func hasFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for j := 0; j < len(prefix); j++ {
		if s[j]|0x20 != prefix[j] {
			return false
		}
	}
	return true
}
