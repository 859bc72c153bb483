package config

import (
	"fmt"
	"slices"
	"strings"
)

// closest returns the candidate nearest to name by edit distance, or ""
// when none is near enough to be a likely misspelling: at most a third of
// name's letters (and at least 3) changed. Ties go to the first candidate.
func closest(name string, candidates []string) string {
	limit := max(3, len(name)/3)
	best, bestDist := "", limit+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b: the fewest
// single-byte insertions, deletions and substitutions turning a into b.
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

// envPrefix starts the name of every environment variable tandem reads.
const envPrefix = "TANDEM_"

// UnknownEnv returns one warning for each TANDEM_* variable in environ (as
// os.Environ gives it, "NAME=value") that tandem does not read, naming the
// closest variable it does read when one is near. Variables are reported in
// the order given. Values are never included: they may be secrets. It has
// no state and is safe for concurrent use.
func UnknownEnv(environ []string) []string {
	known := []string{"TANDEM_CONFIG"} // read by cmd/tandem, not a Config field
	for _, pair := range EnvNames() {
		known = append(known, pair[0])
	}
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(known, name) {
			continue
		}
		msg := name + " is not a tandem setting; it is ignored"
		if near := closest(name, known); near != "" {
			msg = fmt.Sprintf("%s is not a tandem setting; did you mean %s?", name, near)
		}
		warnings = append(warnings, msg+" (tandem -h lists them all)")
	}
	return warnings
}
