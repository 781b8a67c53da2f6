package lifecycle

// MessageKind classifies a progress message (the numbering is that of the
// Operation interface's Message signal).
type MessageKind int32

// Message kinds.
const (
	MessageInfo MessageKind = iota
	MessageSuccess
	MessageWarning
	MessageError
	MessageDim
	MessageHint
)

// Reporter receives progress of long work. Implementations must be safe
// for use from one goroutine at a time; the work calls them in order.
type Reporter interface {
	// Message is a line for the user.
	Message(kind MessageKind, text string)
	// Started begins a progress item; total < 0 means indeterminate.
	Started(id, description string, total int)
	// Update reports the current amount of an item.
	Update(id string, current int, rate float64)
	// Text replaces an item's text (e.g. Incus's "rootfs: 42% (49MB/s)").
	Text(id, text string)
	// Completed ends an item.
	Completed(id string, ok bool, message string)
}

// Discard is a Reporter that drops everything.
var Discard Reporter = discard{}

type discard struct{}

func (discard) Message(MessageKind, string)    {}
func (discard) Started(string, string, int)    {}
func (discard) Update(string, int, float64)    {}
func (discard) Text(string, string)            {}
func (discard) Completed(string, bool, string) {}
