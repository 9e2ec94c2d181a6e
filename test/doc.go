// Package test holds perfprof's end-to-end tests against the real kernel.
//
// The tests build the perfprof binary and the C workloads in scripts/src
// once (in TestMain), run perfprof on those workloads with os/exec, and
// check its --json report, its exit status and messages, and the state
// the kernel leaves the traced tasks in (/proc/PID/status: State and
// TracerPid). They need root (ptrace and perf_event_open on other
// processes) and software perf events; they do not need a hardware PMU.
//
// Without root every test is skipped with the reason, unless
// PERFPROF_TEST_STRICT=1 is set (as in CI): then a missing requirement is
// a failure. Every process the tests start carries an environment marker,
// so that processes left behind by a test (including daemonized
// grandchildren) are found, killed and reported as failures.
//
// Run them with:
//
//	go test -race -count=1 ./test/
package test
