package profiles

import (
	"io"
	"os"
	"time"

	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
)

// Sink returns a profdev.Sink that tells b of each device's start and end,
// then next (the report model): b learns of each process as its first
// task is armed, while it is held before its first instruction.
func (b *Builder) Sink(next profdev.Sink) profdev.Sink { return sink{next, b} }

type sink struct {
	next profdev.Sink
	b    *Builder
}

func (s sink) Started(id uint64, t pidtree.Task, comm string) {
	s.b.Start(t, comm)
	s.next.Started(id, t, comm)
}

func (s sink) Ended(f profdev.Final) {
	s.next.Ended(f)
	s.b.End(f.Task)
}

// Format is the format of a profile file.
type Format int

const (
	Pprof  Format = iota // WritePprof's
	Folded               // WriteFolded's
)

// WriteFile writes the profiles of every process b holds into a new file
// at path, in format; start and d are the time the samples span (pprof).
func (b *Builder) WriteFile(path string, format Format, start time.Time, d time.Duration) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	procs := b.Processes()
	if format == Pprof {
		err = WritePprof(f, b.Events(), procs, start, d)
	} else {
		err = WriteFolded(io.Writer(f), procs)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
