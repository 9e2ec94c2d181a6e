// Package procfs reads the facts perfprof takes from /proc: a task's
// stat line (state, parent, flags), the named fields of its status file
// (Tgid, PPid, TracerPid, the pending signal sets), the lines of a
// process's maps, its command name and its threads. Each file has one
// parser here, and every other package reads /proc through it.
//
// The parsers (ParseStat, ParseStatus, ParseMapsLine) are pure functions
// of the file's text, tested without a kernel; the readers (ReadStat,
// ReadStatus, Comm, Threads) open the file and hand its text to them. A
// reader's error for a task that is gone matches fs.ErrNotExist (or
// unix.ESRCH, when the task went between the open and the read); a text
// the parser does not understand gives an error that matches ErrFormat.
//
// Nothing here keeps state: every function may be called from any
// goroutine. Comm is on the tracer's exec path and makes three system
// calls; the others read the whole file with os.ReadFile.
package procfs
