package session

import (
	"fmt"
	"time"

	"github.com/perfprof/perfprof/sigstart"
	"golang.org/x/sys/unix"
)

// watch handles signals, --duration, -i, -N and a failed report until done
// is closed, calling stop when the run must end now. It runs on the main
// goroutine, and so does everything it calls.
//
// With a workload (forward is not nil), a stop signal goes to the
// workload, once (forward skips it if the workload got it too, as from a
// terminal's Ctrl-C), and the run goes on while the workload shuts down:
// only --kill-after later, or at a second stop signal, does stop kill what
// is left of it. Without, a stop signal stops at once: the attached tasks
// are detached.
func (s *Session) watch(stop func(), forward func(unix.Signal, time.Time), done <-chan struct{}) {
	c := s.cfg
	var tick, timeout <-chan time.Time
	if c.Interval > 0 {
		t := time.NewTicker(c.Interval)
		defer t.Stop()
		tick = t.C
	}
	if c.Duration > 0 {
		t := time.NewTimer(c.Duration)
		defer t.Stop()
		timeout = t.C
	}
	k := killer{after: c.KillAfter, forward: forward, stop: stop}
	defer k.close()
	failed, reports := s.out.Failed(), 0
	for {
		select {
		case <-done:
			return
		case sig := <-s.sig.Stop:
			k.signal(sig.(unix.Signal))
		case <-s.sig.Hup:
			// logrotate moved the report (create), or not (copytruncate):
			// what was written is in the old file, what comes in the new.
			if err := s.out.Reopen(); err != nil {
				s.rep.Error(fmt.Errorf("cannot reopen the report: %w", err))
			}
		case <-s.sig.Usr1:
			s.report(false)
		case <-k.timer():
			s.rep.Warn(&KillAfter{After: c.KillAfter, Signal: k.first})
			stop()
		case <-timeout:
			stop()
		case <-failed:
			failed = nil // nobody reads the report any more
			stop()
		case <-s.limitc:
			s.limitc = nil // -N samples were written: stop now, as --duration does
			stop()
		case <-tick:
			s.report(false)
			if reports++; c.ExitN > 0 && reports >= c.ExitN && !c.Sampling() {
				stop()
				tick = nil
			}
		}
	}
}

// killer decides what a stop signal does (see watch).
type killer struct {
	after   time.Duration // --kill-after
	forward func(unix.Signal, time.Time)
	stop    func()
	first   unix.Signal // the first stop signal passed on
	kill    *time.Timer // armed by it
}

// signal handles a stop signal that perfprof caught.
func (k *killer) signal(sig unix.Signal) {
	at := time.Now()
	switch {
	case k.forward == nil:
		k.stop()
	case sigstart.IgnoredAtStart(sig):
		// Started ignoring it: perfprof only passes it on.
		k.forward(sig, at)
	case k.kill != nil || k.after == 0:
		k.stop()
	default:
		k.first = sig
		k.forward(sig, at)
		k.kill = time.NewTimer(k.after)
	}
}

// timer is the --kill-after timer's channel, nil before the first stop
// signal.
func (k *killer) timer() <-chan time.Time {
	if k.kill == nil {
		return nil
	}
	return k.kill.C
}

func (k *killer) close() {
	if k.kill != nil {
		k.kill.Stop()
	}
}
