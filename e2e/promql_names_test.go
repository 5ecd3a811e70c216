package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
)

// promqlKeywords are identifiers that never name a metric: binary and set
// operators, modifiers and literals.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// promqlGroupings take a parenthesised label list, which holds label names.
var promqlGroupings = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// promqlMetricNames returns the metric names an expression selects, in
// order of first use. It is a tokenizer, not a parser (promtool checks the
// syntax): it skips strings, label matchers ({...}), ranges and subqueries
// ([...]), label lists after by/without/on/ignoring/group_left/group_right,
// comments and Grafana variables ($x, ${x}). An identifier left over is a
// function or aggregation when "(" or by/without follows it, a keyword when
// it is one, and otherwise a metric name.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	i, depth := 0, 0
	skipSpace := func(j int) int {
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
			j++
		}
		return j
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{' || c == '[':
			j, err := skipBracketed(s, i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				for i < len(s) && s[i] != '}' {
					i++
				}
				i++
				continue
			}
			for i < len(s) && isIdentChar(s[i]) {
				i++
			}
		case isDigit(c) || c == '.' && i+1 < len(s) && isDigit(s[i+1]):
			// A number or a duration (5m, 1h30m), exponents included.
			for i < len(s) && (isIdentChar(s[i]) || s[i] == '.' ||
				(s[i] == '+' || s[i] == '-') && (s[i-1] == 'e' || s[i-1] == 'E')) {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			next := skipSpace(j)
			i = j
			switch {
			case promqlGroupings[word]:
				if next < len(s) && s[next] == '(' {
					k, err := skipBracketed(s, next)
					if err != nil {
						return nil, err
					}
					i = k
				}
			case promqlKeywords[word]:
			case next < len(s) && s[next] == '(':
				// a function or an aggregation
			case followedByGrouping(s[next:]):
				// an aggregation written "sum by (x) (...)"
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
		default:
			if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
			if c == '}' || c == ']' || depth < 0 {
				return nil, fmt.Errorf("unbalanced %q at %d in %q", c, i, s)
			}
			i++
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses in %q", s)
	}
	return names, nil
}

var groupingPrefix = regexp.MustCompile(`^(by|without)\s*\(`)

func followedByGrouping(rest string) bool { return groupingPrefix.MatchString(rest) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at %d in %q", i, s)
}

// skipBracketed returns the index after the bracket that closes the one at
// i, stepping over strings (a label value may hold any bracket).
func skipBracketed(s string, i int) (int, error) {
	var stack []byte
	for j := i; j < len(s); j++ {
		switch c := s[j]; c {
		case '"', '\'', '`':
			k, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = k - 1
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != map[byte]byte{')': '(', ']': '[', '}': '{'}[c] {
				return 0, fmt.Errorf("unbalanced %q at %d in %q", c, j, s)
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, fmt.Errorf("unclosed %q at %d in %q", s[i], i, s)
}

func TestObservabilityPromQLNames(t *testing.T) {
	tests := map[string]struct {
		expr string
		want []string
	}{
		"selector":  {`up{job=~"bootsrv.*"} == 0`, []string{"up"}},
		"bare name": {`bootsrv_dhcp_other_servers > 0`, []string{"bootsrv_dhcp_other_servers"}},
		"aggregation before grouping": {
			`sum by (instance, le) (rate(x_bucket{instance=~"$instance"}[$__rate_interval]))`,
			[]string{"x_bucket"}},
		"aggregation after grouping": {`sum(rate(a_total[5m])) without (reason)`, []string{"a_total"}},
		"histogram quantile": {
			`histogram_quantile(0.99, sum by (le) (rate(bootsrv_dhcp_lease_commit_duration_seconds_bucket[5m]))) > 0.25`,
			[]string{"bootsrv_dhcp_lease_commit_duration_seconds_bucket"}},
		"binary with matching": {
			`a / on(pool) group_left(version) b`, []string{"a", "b"}},
		"set operators, offset": {
			"increase(d[10m]) > 0\nor\n(d > 0 unless d offset 10m)", []string{"d"}},
		"strings with brackets and keywords": {
			`c{reason!~"by(x)|}and{[", other='o\'r'} and ignoring(reason) e`, []string{"c", "e"}},
		"numbers and exponents": {`f > 1e-3 and g < 2.5E+2 and h > .5`, []string{"f", "g", "h"}},
		"subquery and @":        {`max_over_time(m[1h:5m] @ end())`, []string{"m"}},
		"comment":               {"# by foo\nn", []string{"n"}},
		"grafana vars":          {`p{instance=~"${instance}"} / q{i="$i"}`, []string{"p", "q"}},
		"colon names":           {`job:rate5m > 1`, []string{"job:rate5m"}},
		"absent":                {`absent(up{job=~"bootsrv.*"})`, []string{"up"}},
		"bool modifier":         {`r > bool 1`, []string{"r"}},
		"literal only":          {`vector(1) * inf`, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := promqlMetricNames(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("promqlMetricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
	for _, bad := range []string{`a{b="c}`, `sum(rate(a[5m])`, `a{]`} {
		if _, err := promqlMetricNames(bad); err == nil {
			t.Errorf("promqlMetricNames(%q): no error", bad)
		}
	}
}
