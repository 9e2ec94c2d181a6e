package perfevent_test

import (
	"fmt"
	"log"
	"runtime"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

func Example() {
	specs, err := perfevent.Parse("task-clock,page-faults,cs")
	if err != nil {
		log.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g, err := perfevent.OpenGroup(specs, unix.Gettid(), perfevent.OpenOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()

	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i)
	}

	vals := make([]perfevent.Value, g.Len())
	if err := g.Read(vals); err != nil {
		log.Fatal(err)
	}
	for i, v := range vals {
		fmt.Printf("%-16s %12d (%.0f%% running)\n", specs[i].Name, v.Scaled(), v.Percent())
	}
	// Not run by go test: it needs perf_event_open permission.
}
