// Package symbol turns the instruction pointers of a process into symbols
// for perfprof: function name, offset in the function, the file or kernel
// module it lies in, and that file's build id.
//
// It owns three things:
//
//   - The executable mappings of one process instance (Process): read from
//     /proc/PID/maps (ReadMaps, ParseMaps), updated one mapping at a time
//     with the fields of a PERF_RECORD_MMAP2 (MmapEvent, Process.Map) and
//     emptied on exec (Process.Reset).
//   - The symbol tables of ELF files (Table): functions from .symtab and
//     .dynsym, or from .gopclntab for a Go binary whose .symtab was
//     stripped, with the PT_LOAD segments that turn a runtime address of a
//     PIE, a shared object or a static executable into an ELF virtual
//     address. A Cache loads each file's table once and shares it between
//     every process that maps the file, keyed by its GNU build id, or by
//     device and inode when it has none.
//   - The kernel's symbols (Kernel), parsed once from /proc/kallsyms.
//
// Files are opened through /proc/PID/map_files/START-END first, then
// /proc/PID/root/PATH, then PATH, so that a binary that was deleted or
// replaced since the process mapped it still resolves while the process
// lives. The [vdso] is read from /proc/PID/mem.
//
// It knows nothing of perf events or ptrace: the caller feeds a Process the
// mappings it learns of (from perf records or /proc) and asks it for
// frames.
//
// # Cost
//
// Loading a table reads and sorts the file's symbols once. Symbolize then
// costs two binary searches (mapping, then symbol) under the Process's
// mutex, and allocates nothing.
//
// # Concurrency
//
// A Cache, a Kernel, a Table and a Process are safe for concurrent use.
//
// # Example
//
//	cache := symbol.NewCache()
//	p := symbol.NewProcess(pid, cache)
//	if err := p.LoadMaps(); err != nil {
//		log.Fatal(err) // read /proc/4242/maps: ...
//	}
//	f := p.Symbolize(ip)
//	fmt.Println(f) // hot_function+0x1c; f.Path is /usr/bin/app
package symbol
