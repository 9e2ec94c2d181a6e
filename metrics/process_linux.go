package metrics

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of the times of /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture perfprof runs on; client_golang assumes it too).
const userHZ = 100

// procDir is where processFamilies reads perfprof's process (a test may
// point it elsewhere).
var procDir = "/proc/self"

// processFamilies are perfprof's process metrics: the process_* families
// of client_golang's process collector (collectors.NewProcessCollector),
// read as it reads them (prometheus/procfs): CPU time, memory, start time
// and virtual memory from /proc/PID/stat, fds from /proc/PID/fd and
// /proc/PID/limits, network bytes from /proc/PID/net/netstat. As there, a
// file that cannot be read leaves its metrics out.
func processFamilies() []family {
	one := func(name, help string, k kind, v float64) family {
		return family{name: name, help: help, kind: k, series: []series{{value: v}}}
	}
	var fams []family
	if st, ok := readStat(procDir + "/stat"); ok {
		fams = append(fams,
			one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", counter, float64(st.utime+st.stime)/userHZ),
			one("process_virtual_memory_bytes", "Virtual memory size in bytes.", gauge, float64(st.vsize)),
			one("process_resident_memory_bytes", "Resident memory size in bytes.", gauge, float64(st.rss*uint64(os.Getpagesize()))))
		if boot, ok := bootTime(); ok {
			fams = append(fams, one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", gauge,
				float64(boot)+float64(st.starttime)/userHZ))
		}
	}
	if n, ok := openFDs(procDir + "/fd"); ok {
		fams = append(fams, one("process_open_fds", "Number of open file descriptors.", gauge, float64(n)))
	}
	if files, space, ok := readLimits(procDir + "/limits"); ok {
		fams = append(fams,
			one("process_max_fds", "Maximum number of open file descriptors.", gauge, float64(files)),
			one("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", gauge, float64(space)))
	}
	if in, out, ok := readNetstat(procDir + "/net/netstat"); ok {
		fams = append(fams,
			one("process_network_receive_bytes_total", "Number of bytes received by the process over the network.", counter, in),
			one("process_network_transmit_bytes_total", "Number of bytes sent by the process over the network.", counter, out))
	}
	return fams
}

// procStat is what processFamilies needs of /proc/PID/stat.
type procStat struct {
	utime, stime, starttime, vsize, rss uint64
}

// readStat reads /proc/PID/stat. Its fields follow the command name, in
// parentheses, which may hold anything (spaces and parentheses too): they
// are counted from its last ')'.
func readStat(path string) (procStat, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	// From the state (field 3 in proc(5)): utime is field 14, rss 24.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return procStat{}, false
	}
	var st procStat
	for _, x := range []struct {
		dst *uint64
		i   int
	}{{&st.utime, 11}, {&st.stime, 12}, {&st.starttime, 19}, {&st.vsize, 20}, {&st.rss, 21}} {
		v, err := strconv.ParseUint(f[x.i], 10, 64)
		if err != nil {
			return procStat{}, false
		}
		*x.dst = v
	}
	return st, true
}

// bootTime reads the boot time (seconds since 1970) from /proc/stat.
func bootTime() (uint64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return t, err == nil
		}
	}
	return 0, false
}

// openFDs counts the open fds: the size of the fd directory says it
// (Linux 6.2 and later), else its entries do.
func openFDs(dir string) (int, bool) {
	if fi, err := os.Stat(dir); err == nil && fi.Size() > 0 {
		return int(fi.Size()), true
	}
	ents, err := os.ReadDir(dir)
	return len(ents), err == nil
}

// readLimits reads the soft limits of open files and of the address
// space from /proc/PID/limits ("unlimited" is the largest uint64).
func readLimits(path string) (files, space uint64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	var haveFiles, haveSpace bool
	for line := range strings.Lines(string(b)) {
		var dst *uint64
		var rest string
		if r, found := strings.CutPrefix(line, "Max open files"); found {
			dst, rest, haveFiles = &files, r, true
		} else if r, found := strings.CutPrefix(line, "Max address space"); found {
			dst, rest, haveSpace = &space, r, true
		} else {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, 0, false
		}
		if f[0] == "unlimited" {
			*dst = 1<<64 - 1
		} else if *dst, err = strconv.ParseUint(f[0], 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return files, space, haveFiles && haveSpace
}

// readNetstat reads the IpExt InOctets and OutOctets of the process's
// network namespace from /proc/PID/net/netstat: a line of names and a
// line of values (0 where it lacks them).
func readNetstat(path string) (in, out float64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, ok1 := strings.CutPrefix(lines[i], "IpExt: ")
		values, ok2 := strings.CutPrefix(lines[i+1], "IpExt: ")
		if !ok1 || !ok2 {
			continue
		}
		n, v := strings.Fields(names), strings.Fields(values)
		for j := range min(len(n), len(v)) {
			x, err := strconv.ParseFloat(v[j], 64)
			if err != nil {
				continue
			}
			switch n[j] {
			case "InOctets":
				in = x
			case "OutOctets":
				out = x
			}
		}
		break
	}
	return in, out, true
}
