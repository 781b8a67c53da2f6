package updates

import "context"

// SetCheck replaces how one container is checked (tests only).
func (s *Service) SetCheck(f func(ctx context.Context, name string, progress Progress) (CheckResult, error)) {
	s.check = f
}
