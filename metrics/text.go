package metrics

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// kind is a metric family's type, as its TYPE line names it.
type kind uint8

const (
	counter kind = iota
	gauge
	summary
)

func (k kind) String() string {
	switch k {
	case counter:
		return "counter"
	case gauge:
		return "gauge"
	}
	return "summary"
}

// family is one metric family: its series share a name, a help text and
// a type.
type family struct {
	name, help string
	kind       kind
	series     []series
}

// series is one series of a family: its labels, in name order, and its
// value. A summary's value is its sum; count and quantiles are its own.
type series struct {
	labels    []label
	value     float64
	count     uint64     // summary only
	quantiles []quantile // summary only, by quantile
}

type label struct{ name, value string }

type quantile struct{ q, v float64 }

// appendText appends fams to b in the Prometheus text format 0.0.4, as
// client_golang's promhttp writes it: the families by name (those with no
// series left out), the series of each by their label values, compared
// in label name order. It sorts fams and their series in place.
func appendText(b []byte, fams []family) []byte {
	slices.SortFunc(fams, func(x, y family) int { return cmp.Compare(x.name, y.name) })
	for i := range fams {
		f := &fams[i]
		if len(f.series) == 0 {
			continue
		}
		slices.SortStableFunc(f.series, compareLabels)
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.kind.String()...)
		b = append(b, '\n')
		for _, s := range f.series {
			if f.kind != summary {
				b = appendSample(b, f.name, s.labels, nil, s.value)
				continue
			}
			for _, q := range s.quantiles {
				b = appendSample(b, f.name, s.labels, &q, q.v)
			}
			b = appendSample(b, f.name+"_sum", s.labels, nil, s.value)
			b = appendName(b, f.name+"_count", s.labels, nil)
			b = strconv.AppendUint(b, s.count, 10) // an integer, as client_golang writes it
			b = append(b, '\n')
		}
	}
	return b
}

// compareLabels orders two series of a family by their label values, as
// client_golang sorts them (both have the same label names, in order).
func compareLabels(x, y series) int {
	if c := cmp.Compare(len(x.labels), len(y.labels)); c != 0 {
		return c
	}
	for i := range x.labels {
		if c := strings.Compare(x.labels[i].value, y.labels[i].value); c != 0 {
			return c
		}
	}
	return 0
}

// appendSample appends one sample line: name{labels,quantile="q"} v.
func appendSample(b []byte, name string, labels []label, q *quantile, v float64) []byte {
	b = appendName(b, name, labels, q)
	b = appendFloat(b, v)
	return append(b, '\n')
}

// appendName appends a sample line up to its value: name{labels,quantile="q"}
// and a space.
func appendName(b []byte, name string, labels []label, q *quantile) []byte {
	b = append(b, name...)
	if len(labels) > 0 || q != nil {
		sep := byte('{')
		for _, l := range labels {
			b = append(b, sep)
			b = append(b, l.name...)
			b = append(b, `="`...)
			b = appendEscaped(b, l.value, true)
			b = append(b, '"')
			sep = ','
		}
		if q != nil {
			b = append(b, sep)
			b = append(b, `quantile="`...)
			b = appendFloat(b, q.q)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

// appendEscaped appends s escaped as the text format wants: a backslash
// and a newline always, a double quote in a label value. Bytes that are
// not UTF-8 become U+FFFD: Prometheus refuses a scrape that has any (a
// command name is whatever bytes a program gave itself).
func appendEscaped(b []byte, s string, quoted bool) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quoted:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat appends v as Go's %g writes it (the shortest form that
// reads back the same), with the text format's NaN, +Inf and -Inf; -0
// is 0.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case v == 0:
		return append(b, '0')
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
