module github.com/perfprof/perfprof

go 1.26.0

require (
	github.com/elastic/go-perf v0.0.0-20260224073651-af0ee0c731b7
	github.com/google/btree v1.1.3
	github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b
	github.com/spf13/pflag v1.1.0
	golang.org/x/sys v0.49.0
)
