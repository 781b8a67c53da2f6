package bridge

import (
	"encoding/xml"
	"strings"
)

func xmlUnmarshal(text string, v any) error {
	d := xml.NewDecoder(strings.NewReader(text))
	// The files carry a DOCTYPE; encoding/xml skips it.
	return d.Decode(v)
}
