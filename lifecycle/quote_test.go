package lifecycle

import (
	"strings"
	"testing"
)

func TestQuoteInputKeepsErrorsShort(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ in, want string }{
		"short":          {"my.box", `"my.box"`},
		"64 bytes":       {strings.Repeat("a", 64), `"` + strings.Repeat("a", 64) + `"`},
		"long":           {strings.Repeat("b", 1<<20), `"` + strings.Repeat("b", 64) + `"... (1048576 bytes)`},
		"cut at a rune":  {strings.Repeat("é", 40), `"` + strings.Repeat("é", 32) + `"... (80 bytes)`},
		"control quoted": {"a\nb", `"a\nb"`},
	} {
		t.Run(name, func(t *testing.T) {
			if got := QuoteInput(tc.in); got != tc.want {
				t.Errorf("QuoteInput = %s, want %s", got, tc.want)
			}
		})
	}
	err := ValidateName(strings.Repeat("x", 1<<20))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("ValidateName of 1 MiB: %d bytes of error", len(err.Error()))
	}
}
