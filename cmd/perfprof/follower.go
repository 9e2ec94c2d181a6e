package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/perfprof/perfprof/follow"
)

// The words and numbers cmd takes from package follow.

// attachReason says to users why an attach failed: from the Cause of a
// *follow.AttachError, else the error itself.
func attachReason(err error) string {
	var ae *follow.AttachError
	if !errors.As(err, &ae) {
		return err.Error()
	}
	switch ae.Cause {
	case follow.CauseNoProcess:
		return "no such process"
	case follow.CauseTraced:
		return fmt.Sprintf("already traced by process %d (%s)", ae.TracerPID, ae.TracerComm)
	case follow.CauseZombie:
		return "the task is a zombie"
	case follow.CauseNotPermitted:
		if os.Geteuid() != 0 {
			return "operation not permitted (needs root or CAP_SYS_PTRACE; see also kernel.yama.ptrace_scope)"
		}
		return "operation not permitted (kernel thread, or kernel.yama.ptrace_scope = 3)"
	case follow.CauseSelf:
		return "that is perfprof itself, and perfprof cannot follow itself"
	}
	return ae.Err.Error()
}
