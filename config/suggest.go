package config

import (
	"fmt"
	"strings"
)

// didYouMean returns ` (did you mean "x"?)` for the option closest to word, or
// "" when nothing is close enough to be a likely typo.
func didYouMean(word string, options []string) string {
	return meant(closest(word, options))
}

func meant(guess string) string {
	if guess == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", guess)
}

// closest returns the option nearest to word by edit distance, or "" when
// none is near enough to be a likely typo. Case is ignored for the match,
// because "identityfiles" for "identityFiles" is the commonest slip.
func closest(word string, options []string) string {
	best, bestDist := "", -1
	for _, o := range options {
		d := editDistance(strings.ToLower(word), strings.ToLower(o))
		if bestDist < 0 || d < bestDist {
			best, bestDist = o, d
		}
	}
	// Allow about one typo per four letters, at least one: "rol" -> "roles"
	// is a typo, "foo" -> "port" is not.
	limit := max(1, len(word)/4+1)
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counted in bytes
// (the keys and values compared are ASCII).
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
