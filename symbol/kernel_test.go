package symbol

import (
	"os"
	"strings"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
)

func TestKernel(t *testing.T) {
	testenv.RequireRoot(t, "kernel addresses in /proc/kallsyms")
	c := NewCache()
	k, err := c.Kernel()
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := c.Kernel(); k2 != k {
		t.Errorf("the cache read kallsyms twice")
	}
	if k.Restricted() {
		testenv.Skip(t, "/proc/kallsyms hides addresses (kernel.kptr_restrict=2?)")
	}
	p := NewProcess(os.Getpid(), c)
	for _, name := range []string{"schedule", "do_sys_openat2", "vfs_read"} {
		addr, ok := k.Addr(name)
		if !ok {
			t.Logf("no %s in kallsyms", name)
			continue
		}
		for _, off := range []uint64{0, 4} {
			f := p.Symbolize(addr + off)
			if f.Func != name || f.Offset != off || !f.Kernel || f.Module != "" || f.Path != KernelPath {
				t.Errorf("%s+%d symbolizes to %+v", name, off, f)
			}
		}
	}
	// A symbol of a module (or of the kernel's pseudo-modules such as
	// [__builtin__ftrace]) resolves with its module.
	var mod *ksym
	for i := range k.syms {
		if k.syms[i].mod != 0 {
			mod = &k.syms[i]
			break
		}
	}
	if mod == nil {
		t.Log("no module symbol in kallsyms: module marking untested on this kernel")
		return
	}
	module := k.mods[mod.mod]
	f := k.Lookup(mod.addr + 1)
	if f.Module != module || !strings.HasSuffix(f.String(), " ["+module+"]") {
		t.Errorf("%s [%s]+1 symbolizes to %+v (%s)", k.name(mod), module, f, f)
	}
	t.Logf("module symbol: %s", f)
}

func TestParseKallsyms(t *testing.T) {
	const text = `ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81001000 t helper
ffffffff81002000 D some_data
0000000000020000 A fixed_percpu_data
ffffffffc0001000 t mod_fn	[mymod]
ffffffffc0001100 T mod_fn2	[mymod]
`
	k, err := ParseKallsyms(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if k.Restricted() || k.Len() != 5 { // functions only: not some_data, not the absolute one
		t.Fatalf("restricted %v, %d symbols", k.Restricted(), k.Len())
	}
	tests := []struct {
		addr uint64
		want string
	}{
		{0xffffffff81000010, "_text+0x10"},
		{0xffffffff81001004, "helper+0x4"},
		{0xffffffff81002004, "helper+0x1004"}, // data is not kept: no instruction pointer is there
		{0xffffffffc0001004, "mod_fn+0x4 [mymod]"},
		{0xffffffffc0001100, "mod_fn2+0x0 [mymod]"},
		{0xffffffffc0001100 + 3<<20, "mymod+0x300100"},
		{0xffffffff80000000, "[unknown]"},
	}
	for _, tt := range tests {
		if got := k.Lookup(tt.addr).String(); got != tt.want {
			t.Errorf("Lookup(%#x) = %s, want %s", tt.addr, got, tt.want)
		}
	}

	hidden := "0000000000000000 T _text\n0000000000000000 t helper\n"
	k, err = ParseKallsyms(strings.NewReader(hidden))
	if err != nil {
		t.Fatal(err)
	}
	if !k.Restricted() {
		t.Error("all-zero kallsyms is not Restricted")
	}
	if f := k.Lookup(0xffffffff81000010); f.Func != "" || f.String() != "[unknown]" {
		t.Errorf("restricted lookup = %+v", f)
	}
	if _, err := ParseKallsyms(strings.NewReader("zz T x\n")); err == nil {
		t.Error("bad address: no error")
	}
}
