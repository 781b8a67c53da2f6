package testbed

import (
	"slices"
	"time"
)

// Median is the median of durations (benchmarks print medians).
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Goal says whether a benchmark's goal was met, for its report line.
func Goal(met bool) string {
	if met {
		return "met"
	}
	return "NOT met"
}
