package main

import (
	"strings"
	"testing"
)

// perf report --stats of perf 6.1: the per-event part gives the lost
// samples; the aggregated part counts LOST records.
const perfStatsOut = `
Aggregated stats:
           TOTAL events:     985300
            LOST events:         32  ( 0.0%)
          SAMPLE events:     979221  (99.4%)
    LOST_SAMPLES events:          2  ( 0.0%)
  FINISHED_ROUND events:       6033  ( 0.6%)
page-faults stats:
          SAMPLE events:     979221
    LOST_SAMPLES events:      20839
`

func TestParsePerfStats(t *testing.T) {
	s, l, err := parsePerfStats(perfStatsOut, "page-faults")
	if err != nil || s != 979221 || l != 20839 {
		t.Errorf("parsePerfStats = %d, %d, %v; want 979221, 20839, nil", s, l, err)
	}
	// No loss: no LOST_SAMPLES line.
	s, l, err = parsePerfStats("Aggregated stats:\n SAMPLE events: 5 (100%)\npage-faults stats:\n          SAMPLE events:     1000060\n", "page-faults")
	if err != nil || s != 1000060 || l != 0 {
		t.Errorf("parsePerfStats without loss = %d, %d, %v; want 1000060, 0, nil", s, l, err)
	}
	if _, _, err := parsePerfStats("Aggregated stats:\n SAMPLE events: 5 (100%)\n", "page-faults"); err == nil {
		t.Error("parsePerfStats without the event's part: no error")
	}
}

func TestParsePerfprofText(t *testing.T) {
	rep := `      faultpages 31680/31680 [001] 1795972972.148708899: 1 page-faults: ffffffff817554ea
      faultpages 31680/31680 [001] 1795972972.148761071: 1 page-faults: ffffffff817554ea

 Performance counter stats for the process tree (1 process):

     PID     PPID  COMM                        page-faults  STATUS
   31680    31672  faultpages                            5  exit 0
                   total                                 5

 1 task followed, 0 forks, 0 counter failures, 3.120 s elapsed, perfprof used 1.249 s CPU
 2 samples, 3 lost, 0 tasks without a ring, 32 KiB of rings at most

`
	got, err := parsePerfprofText(strings.NewReader(rep), "page-faults")
	if err != nil {
		t.Fatal(err)
	}
	if got.lines != 2 || got.total != 5 || got.samples != 2 || got.lost != 3 || got.cpuMs != 1249 {
		t.Errorf("parsePerfprofText = %+v", got)
	}
	if _, err := parsePerfprofText(strings.NewReader("nothing\n"), "page-faults"); err == nil {
		t.Error("parsePerfprofText of no report: no error")
	}
}

func TestLiveReadJSON(t *testing.T) {
	for _, lostField := range []string{"lost", "lost_records"} {
		in := `{"type":"sample","time":1,"pid":10,"tid":10,"event":"page-faults","period":1,"ip":"0x1"}
{"type":"sample","time":2,"pid":10,"tid":11,"event":"page-faults","period":1,"ip":"0x1"}
{"type":"sample","time":3,"pid":10,"tid":11,"event":"page-faults","period":1,"ip":"0x1"}
{"type":"lost","time":4,"pid":10,"tid":12,"lost":2}
{"type":"counts","time":5,"pid":10,"comm":"x","exited":true,"final":true,"events":{"page-faults":{"value":5,"delta":5,"enabled_ns":1,"running_ns":1}}}
{"type":"summary","time":6,"tasks_followed":3,"forks":2,"counter_failures":0,"duration_ns":1,"perfprof_cpu_ns":1,"samples":3,"` + lostField + `":2,"ring_failures":0,"ring_bytes_max":12288}
`
		var l liveResult
		if err := l.readJSON(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		lost, ok := l.summary.lost()
		if l.tids != 2 || l.sampleRecs != 3 || l.lostRecs != 2 || l.countTotal != 5 || !ok || lost != 2 ||
			*l.summary.Samples != 3 || *l.summary.RingBytesMax != 12288 || l.summary.TasksFollowed != 3 {
			t.Errorf("%s: readJSON = %+v, summary %+v", lostField, l, *l.summary)
		}
	}
}

func TestSamplingFlags(t *testing.T) {
	for _, c := range []struct {
		stormOnly, only, skip bool
		main, sampling        bool
	}{
		{false, false, false, true, true},
		{false, false, true, true, false},
		{false, true, false, false, true},
		{true, false, false, false, false},
		{true, true, false, false, true},
	} {
		cfg := &config{storm: stormConfig{only: c.stormOnly}, sampling: samplingConfig{only: c.only, skip: c.skip}}
		if cfg.runsMain() != c.main || cfg.runsSampling() != c.sampling {
			t.Errorf("storm-only=%v sampling-only=%v no-sampling=%v: main %v sampling %v, want %v %v",
				c.stormOnly, c.only, c.skip, cfg.runsMain(), cfg.runsSampling(), c.main, c.sampling)
		}
	}
}

func TestParsePerfprofSummary(t *testing.T) {
	rep := `
     PID     PPID  COMM                     task-clock (ms)  STATUS
   20049    20040  cpuwrap                             1.74  exit 0
                   total                             240.12

 4 tasks followed, 3 forks, 0 counter failures, 0.342 s elapsed, perfprof used 0.114 s CPU
 237 samples, 2 lost, 0 tasks without a ring, 64 KiB of rings at most
`
	s, l, cpu, err := parsePerfprofSummary(strings.NewReader(rep))
	if err != nil || s != 237 || l != 2 || cpu != 114 {
		t.Errorf("parsePerfprofSummary = %d, %d, %v, %v; want 237, 2, 114, nil", s, l, cpu, err)
	}
	if _, _, _, err := parsePerfprofSummary(strings.NewReader("total 5\n")); err == nil {
		t.Error("parsePerfprofSummary without a samples line: no error")
	}
}
