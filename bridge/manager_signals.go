package bridge

// ManagerSignals emits org.kde.kapsule.Manager's signals. It is separate
// from Manager so that Manager's exported methods are exactly the D-Bus
// methods.
type ManagerSignals struct{ m *Manager }

// Signals returns the signal emitter of the Manager.
func Signals(m *Manager) ManagerSignals { return ManagerSignals{m} }

// ContainersChanged emits the signal of that name.
func (s ManagerSignals) ContainersChanged() { s.m.emit("ContainersChanged") }

// UpdateSourcesChanged emits the signal of that name.
func (s ManagerSignals) UpdateSourcesChanged() { s.m.emit("UpdateSourcesChanged") }

// UpdatesChanged emits the signal of that name.
func (s ManagerSignals) UpdatesChanged(container string, count, security uint32) {
	s.m.emit("UpdatesChanged", container, count, security)
}
