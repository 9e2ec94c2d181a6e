// Package perfevent owns perf_event counters for perfprof: it turns event
// names into resolved attrs (Parse), opens one counter group per task and
// reads, enables and closes it (OpenGroup, Group), looks up tracepoint ids
// in tracefs, and gives errnos of perf_event_open(2) their meaning
// (ErrNotSupported, ErrPermission, ...: facts a caller turns into advice).
// For sampling, it reads a perf ring buffer (MapRing, Ring), decodes its
// records (DecodeRecord: a pure function of the attr's formats and the
// bytes, with no allocation per record), reads tracepoint formats
// (ReadFormat) and decodes the fields of their PERF_SAMPLE_RAW data
// (FieldDecoder).
// It knows nothing of ptrace, process trees or output: follow and profdev
// decide which task gets a group and when, cmd/perfprof prints.
//
// Parse does all the slow work (name tables, tracefs reads, even mounting
// tracefs as root), so that OpenGroup, which runs while a new child is held
// in a ptrace stop, makes exactly one perf_event_open(2) call per event,
// reads no file and allocates only the returned Group. (Only a failed
// OpenGroup reads one: /proc/TID/stat, to tell a task that is exiting,
// ErrNoTask, from an event the kernel refuses.) Pin keeps the
// kernel's per-kind setup (static keys, tracepoint registration) alive
// across those opens and closes.
//
// # Concurrency
//
// Parse, Probe, Pin and OpenGroup may be called from any goroutine; note
// that pid 0 (Probe, Pin, OpenGroup with tid 0) means the calling OS
// thread, so lock the goroutine (runtime.LockOSThread) when that matters.
// A Group's Read, Enable and Disable may run concurrently; Close must not
// run concurrently with them.
//
// # Example
//
// Count the calling thread's CPU time, page faults and context switches.
// (The calling thread is running while its group opens, so page-faults and
// cs, whose PMU differs from task-clock's, start at its next context
// switch; see OpenGroup.)
//
//	specs, err := perfevent.Parse("task-clock,page-faults,cs")
//	if err != nil {
//		var ue *perfevent.UnknownEventError
//		if errors.As(err, &ue) && len(ue.Suggestions) > 0 {
//			log.Printf("did you mean %s?", strings.Join(ue.Suggestions, ", "))
//		}
//		log.Fatal(err)
//	}
//	runtime.LockOSThread()
//	defer runtime.UnlockOSThread()
//	g, err := perfevent.OpenGroup(specs, unix.Gettid(), perfevent.OpenOptions{})
//	if err != nil {
//		if errors.Is(err, perfevent.ErrPermission) {
//			log.Print("see kernel.perf_event_paranoid")
//		}
//		log.Fatal(err) // open "task-clock" for tid 4242: ...
//	}
//	defer g.Close()
//
//	work()
//
//	vals := make([]perfevent.Value, g.Len())
//	if err := g.Read(vals); err != nil { // one read(2), no allocation
//		log.Fatal(err)
//	}
//	for i, v := range vals {
//		fmt.Printf("%-20s %12d (%.0f%% running)\n", specs[i].Name, v.Scaled(), v.Percent())
//	}
package perfevent
