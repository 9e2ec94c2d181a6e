package session

import "time"

// cutProfile writes the profile of the interval ending now into
// --pprof-dir (profiles.Dir.Cut). A failure is a warning: a daemon goes
// on, and tries again at the next interval.
func (s *Session) cutProfile(now time.Time) {
	s.obs.ReadRingsNow() // the rings may hold samples of the interval still
	if err := s.pdir.Cut(s.profiles, now); err != nil {
		s.rep.Warn(&ProfileDirError{Err: err})
	}
}
