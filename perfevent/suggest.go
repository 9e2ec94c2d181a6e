package perfevent

import (
	"sort"
	"strings"
)

// maxSuggestions is how many names suggest returns at most.
const maxSuggestions = 3

// suggest returns up to maxSuggestions names from known that are close to
// name: within a small edit distance (transpositions count as one edit,
// case is ignored), or starting with name. Best first.
func suggest(name string, known []string) []string {
	if name == "" {
		return nil
	}
	lname := strings.ToLower(name)
	limit := len(name) / 3
	limit = max(limit, 1)
	limit = min(limit, 3)
	type cand struct {
		name string
		dist int
	}
	var cands []cand
	seen := make(map[string]bool)
	for _, k := range known {
		if seen[k] {
			continue
		}
		seen[k] = true
		lk := strings.ToLower(k)
		d := editDistance(lname, lk)
		if len(lname) >= 3 && strings.HasPrefix(lk, lname) {
			d = min(d, limit)
		}
		if d <= limit {
			cands = append(cands, cand{k, d})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].dist != cands[j].dist {
			return cands[i].dist < cands[j].dist
		}
		return cands[i].name < cands[j].name
	})
	var out []string
	for _, c := range cands {
		if len(out) == maxSuggestions {
			break
		}
		out = append(out, c.name)
	}
	return out
}

// editDistance is the optimal string alignment distance between a and b
// (Levenshtein plus adjacent transpositions), over bytes. Event names are
// ASCII; inputs longer than 64 bytes are too far from any name to matter
// and are cut, to bound the work.
func editDistance(a, b string) int {
	const maxLen = 64
	if len(a) > maxLen {
		a = a[:maxLen]
	}
	if len(b) > maxLen {
		b = b[:maxLen]
	}
	// Three rows: i-2, i-1, i.
	prev2 := make([]int, len(b)+1)
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
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
