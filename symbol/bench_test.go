package symbol

import (
	"debug/elf"
	"os"
	"reflect"
	"testing"
)

//go:noinline
func benchTarget(n int) int { return n * 3 }

// BenchmarkSymbolize measures one user address, tables loaded: the cost
// per frame in steady state.
func BenchmarkSymbolize(b *testing.B) {
	p := NewProcess(os.Getpid(), NewCache())
	if err := p.LoadMaps(); err != nil {
		b.Fatal(err)
	}
	addr := uint64(reflect.ValueOf(benchTarget).Pointer()) + 1
	if f := p.Symbolize(addr); f.Func != "github.com/perfprof/perfprof/symbol.benchTarget" {
		b.Fatalf("symbolized to %+v", f)
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Symbolize(addr)
	}
}

// BenchmarkSymbolizeKernel measures one kernel address.
func BenchmarkSymbolizeKernel(b *testing.B) {
	c := NewCache()
	k, err := c.Kernel()
	if err != nil || k.Restricted() {
		b.Skip("no kernel symbols")
	}
	addr, ok := k.Addr("schedule")
	if !ok {
		b.Skip("no schedule in kallsyms")
	}
	p := NewProcess(os.Getpid(), c)
	b.ReportAllocs()
	for b.Loop() {
		p.Symbolize(addr + 4)
	}
}

// BenchmarkLoadTable measures loading the symbol table of this test
// binary (a Go binary with .symtab, tens of thousands of symbols).
func BenchmarkLoadTable(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	benchLoad(b, exe)
}

// BenchmarkLoadTableLibc measures loading the C library's table.
func BenchmarkLoadTableLibc(b *testing.B) {
	for _, path := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6"} {
		if _, err := os.Stat(path); err == nil {
			benchLoad(b, path)
			return
		}
	}
	b.Skip("no libc.so.6 found")
}

func benchLoad(b *testing.B, path string) {
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		f, err := elf.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		t, err := NewTable(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		n = t.Len()
	}
	b.ReportMetric(float64(n), "syms")
}

// BenchmarkKallsyms measures parsing /proc/kallsyms.
func BenchmarkKallsyms(b *testing.B) {
	n := 0
	for b.Loop() {
		k, err := ReadKallsyms()
		if err != nil {
			b.Fatal(err)
		}
		n = k.Len()
	}
	b.ReportMetric(float64(n), "syms")
}
