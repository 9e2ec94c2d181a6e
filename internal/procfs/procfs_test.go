package procfs

import (
	"errors"
	"strings"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want Stat
		ok   bool
	}{
		{"sleeping", "4242 (sleep) S 1 4242 4242 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0\n",
			Stat{PID: 4242, Comm: "sleep", State: 'S', PPID: 1, PGRP: 4242, Session: 4242, Flags: 4194560}, true},
		// A comm with spaces and parentheses: the fields start after the last ')'.
		{"comm with fields in it", "4243 (a) Z 1 2 3 (b) R 5 6 7 8 9 10 11 12 13) Z 1 4243 4243 0 -1 4227148 0 0\n",
			Stat{PID: 4243, Comm: "a) Z 1 2 3 (b) R 5 6 7 8 9 10 11 12 13", State: 'Z', PPID: 1, PGRP: 4243, Session: 4243, Flags: 4227148}, true},
		{"comm a) (b", "17 (a) (b) S 2 17 17 0 -1 64 0\n",
			Stat{PID: 17, Comm: "a) (b", State: 'S', PPID: 2, PGRP: 17, Session: 17, Flags: 64}, true},
		{"comm with spaces", "4244 (x y) R 1 4244 4244 34816 4244 4 1 2 3\n",
			Stat{PID: 4244, Comm: "x y", State: 'R', PPID: 1, PGRP: 4244, Session: 4244, Flags: 4}, true},
		{"empty comm", "9 () S 1 9 9 0 -1 0\n", Stat{PID: 9, State: 'S', PPID: 1, PGRP: 9, Session: 9}, true},
		{"zombie", "300 (sh) Z 299 300 1 0 -1 4227148 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n",
			Stat{PID: 300, Comm: "sh", State: 'Z', PPID: 299, PGRP: 300, Session: 1, Flags: 4227148}, true},
		{"kernel thread", "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2\n",
			Stat{PID: 2, Comm: "kthreadd", State: 'S', Flags: 2129984}, true},
		{"no newline, nine fields exactly", "5 (x) t 4 5 5 0 -1 1", Stat{PID: 5, Comm: "x", State: 't', PPID: 4, PGRP: 5, Session: 5, Flags: 1}, true},
		{"truncated before flags", "4245 (trunc) S 1 2 3 4\n", Stat{}, false},
		{"flags not a number", "4246 (bad) S 1 2 3 4 5 flags\n", Stat{}, false},
		{"no parentheses", "4247 no parens S 1 2 3 4 5 6\n", Stat{}, false},
		{"only a )", "4248 x) S 1 2 3 4 5 6\n", Stat{}, false},
		{"state of two letters", "4249 (x) SS 1 2 3 4 5 6\n", Stat{}, false},
		{"state not a letter", "4249 (x) 0 1 2 3 4 5 6\n", Stat{}, false},
		{"ppid not a number", "4250 (x) S p 2 3 4 5 6\n", Stat{}, false},
		{"pid not a number", "p (x) S 1 2 3 4 5 6\n", Stat{}, false},
		{"nothing after the comm", "4251 (x)", Stat{}, false},
		{"empty", "", Stat{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tc.line))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseStat(%q) = %+v, %v; want %+v, ok %v", tc.line, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not match ErrFormat", err)
			}
		})
	}
}

func TestStatZombie(t *testing.T) {
	for state, want := range map[byte]bool{'Z': true, 'X': true, 'S': false, 'R': false, 't': false, 'D': false} {
		if got := (Stat{State: state}).Zombie(); got != want {
			t.Errorf("state %c: Zombie() = %v", state, got)
		}
	}
}

// statusText is a /proc/PID/status of Linux 6.18, cut short.
const statusText = `Name:	sig target
Umask:	0022
State:	t (tracing stop)
Tgid:	4100
Ngid:	0
Pid:	4102
PPid:	4000
TracerPid:	3999
Uid:	0	0	0	0
SigQ:	1/30000
SigPnd:	0000000000000100
ShdPnd:	0000000000004002
SigBlk:	0000000000000000
`

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want Status
		ok   bool
	}{
		{"traced thread", statusText, Status{State: 't', TGID: 4100, PPID: 4000, TracerPID: 3999, SigPnd: 0x100, ShdPnd: 0x4002}, true},
		{"untraced zombie", "Name:\tsh\nState:\tZ (zombie)\nTgid:\t7\nPPid:\t1\nTracerPid:\t0\n", Status{State: 'Z', TGID: 7, PPID: 1}, true},
		{"missing fields stay zero", "Name:\tx\nTgid:\t12\n", Status{TGID: 12}, true},
		{"no final newline", "PPid:\t5\nTracerPid:\t6", Status{PPID: 5, TracerPID: 6}, true},
		{"a name with a colon in it", "Name:\ta:b\nTgid:\t3\n", Status{TGID: 3}, true},
		{"lines without a colon", "garbage\n\nTgid:\t3\n", Status{TGID: 3}, true},
		{"empty", "", Status{}, true},
		{"bad Tgid", "Tgid:\tx\n", Status{}, false},
		{"bad TracerPid", "TracerPid:\t\n", Status{}, false},
		{"bad SigPnd", "SigPnd:\tzz\n", Status{}, false},
		{"empty State", "State:\t\n", Status{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tc.text))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("ParseStatus = %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not match ErrFormat", err)
			}
		})
	}
}

func TestStatusPending(t *testing.T) {
	s := Status{SigPnd: 1 << (10 - 1), ShdPnd: 1<<(2-1) | 1<<(64-1)}
	for sig, want := range map[int]bool{10: true, 2: true, 64: true, 1: false, 15: false, 0: false, 65: false, -1: false} {
		if got := s.Pending(sig); got != want {
			t.Errorf("Pending(%d) = %v, want %v", sig, got, want)
		}
	}
}

func TestParseMapsLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Mapping
	}{
		{"55d4c2a00000-55d4c2a01000 r-xp 00001000 08:01 1234567                    /usr/bin/my app (deleted)",
			Mapping{Start: 0x55d4c2a00000, End: 0x55d4c2a01000, Prot: ProtRead | ProtExec, Offset: 0x1000, Major: 8, Minor: 1, Inode: 1234567, Path: "/usr/bin/my app", Deleted: true}},
		{"7f0000000000-7f0000021000 rw-s 00000000 fd:1a 42 /dev/shm/a  b",
			Mapping{Start: 0x7f0000000000, End: 0x7f0000021000, Prot: ProtRead | ProtWrite, Shared: true, Major: 0xfd, Minor: 0x1a, Inode: 42, Path: "/dev/shm/a  b"}},
		{"7ffd1a1f0000-7ffd1a1f2000 r-xp 00000000 00:00 0                          [vdso]",
			Mapping{Start: 0x7ffd1a1f0000, End: 0x7ffd1a1f2000, Prot: ProtRead | ProtExec, Path: "[vdso]"}},
		// An anonymous mapping named by the program (PR_SET_VMA) keeps its
		// " (deleted)"-looking name: no file was deleted.
		{"7f1e00000000-7f1e00021000 rw-p 00000000 00:00 0    [anon:x (deleted)]",
			Mapping{Start: 0x7f1e00000000, End: 0x7f1e00021000, Prot: ProtRead | ProtWrite, Path: "[anon:x (deleted)]"}},
		{"7f1e00000000-7f1e00021000 ---p 00000000 00:00 0 ",
			Mapping{Start: 0x7f1e00000000, End: 0x7f1e00021000}},
		{"7f1e00000000-7f1e00021000 rw-p 00000000 00:00 0",
			Mapping{Start: 0x7f1e00000000, End: 0x7f1e00021000, Prot: ProtRead | ProtWrite}},
	} {
		got, err := ParseMapsLine(tc.line)
		if err != nil || got != tc.want {
			t.Errorf("ParseMapsLine(%q) = %+v, %v\nwant %+v", tc.line, got, err, tc.want)
		}
		if exec := ExecLine([]byte(tc.line)); exec != (tc.want.Prot&ProtExec != 0) {
			t.Errorf("ExecLine(%q) = %v", tc.line, exec)
		}
	}
	for _, bad := range []string{"", "zz-10 r-xp 0 00:00 0", "10-20 r-x 0 00:00 0", "10-20 r-xp 0 0000 0",
		"20-10 r-xp 0 00:00 0", "10-20 r-xp 0 00:00 x", "1020 r-xp 0 00:00 0", "10-20 r-xp zz 00:00 0", "10-20 r-xp 0 zz:00 0"} {
		if _, err := ParseMapsLine(bad); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseMapsLine(%q): error %v, want one that matches ErrFormat", bad, err)
		}
	}
	for _, line := range []string{"", "10-20", "10-20 r-", "10-20 rw-p"} {
		if ExecLine([]byte(line)) {
			t.Errorf("ExecLine(%q) = true", line)
		}
	}
}

// FuzzParseStat checks that no stat line makes ParseStat panic, that a
// line it accepts has its one-letter state and a comm found between
// parentheses, and that an error matches ErrFormat.
func FuzzParseStat(f *testing.F) {
	for _, s := range []string{
		"4242 (sleep) S 1 4242 4242 0 -1 4194560 120 0 0 0 0 0 0 0 20 0 1 0\n",
		"17 (a) (b) S 2 17 17 0 -1 64 0\n",
		"4245 (trunc) S 1 2 3 4\n",
		"", ")(", "1 ()",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) || s != (Stat{}) {
				t.Fatalf("error %v with %+v", err, s)
			}
			return
		}
		if !('A' <= s.State && s.State <= 'Z' || 'a' <= s.State && s.State <= 'z') || !strings.Contains(string(b), "("+s.Comm+")") {
			t.Fatalf("%q: %+v", b, s)
		}
	})
}
