// Package daemon owns perfprof's life as a daemon: its start (Start
// re-executes perfprof, with the same arguments, in a session of its own,
// and waits until it has attached or ended), its word to the starter that
// it has attached (Ready), and its locked pid file (PidFile).
//
// Go cannot fork, so the daemon is a new process of the same binary; the
// tracer thread lives in it. The daemon knows it is one by the environment
// variable Env, which names the fd of its pipe to its starter.
//
// It prints nothing: its errors are values (a *BusyError for a pid file a
// live daemon holds), which cmd/perfprof turns into messages. Start copies
// what the daemon writes on its standard error, until it has attached, to
// the starter's, on a goroutine of its own that ends before Start returns.
package daemon
