// What `govc metric.sample -n N VM mem.granted.average ...` does, written with govmomi's
// performance package (the code govc's metric commands are made of): the provider summary, the
// historical intervals, the counters by name, the available metrics, then QueryPerf by name and
// the samples as series. Usage: govmomi_perf URL VM-MOREF MAX-SAMPLE INTERVAL COUNTER...
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/performance"
	"github.com/vmware/govmomi/vim25/types"
)

func check(err error) {
	if err != nil {
		fmt.Println("ERROR:", err)
		os.Exit(1)
	}
}

func main() {
	ctx := context.Background()
	u, err := url.Parse(os.Args[1])
	check(err)
	c, err := govmomi.NewClient(ctx, u, true)
	check(err)
	vm := types.ManagedObjectReference{Type: "VirtualMachine", Value: os.Args[2]}
	maxSample, err := strconv.Atoi(os.Args[3])
	check(err)
	interval, err := strconv.Atoi(os.Args[4])
	check(err)
	names := os.Args[5:]

	m := performance.NewManager(c.Client)
	summary, err := m.ProviderSummary(ctx, vm)
	check(err)
	fmt.Println("summary:", summary.CurrentSupported, summary.RefreshRate)
	intervals, err := m.HistoricalInterval(ctx)
	check(err)
	for _, i := range intervals {
		fmt.Println("interval:", i.SamplingPeriod, i.Name)
	}
	counters, err := m.CounterInfoByName(ctx)
	check(err)
	for _, name := range names {
		fmt.Println("counter:", name, counters[name].Key, counters[name].UnitInfo.GetElementDescription().Key)
	}
	available, err := m.AvailableMetric(ctx, vm, int32(interval))
	check(err)
	fmt.Println("available:", len(available))

	spec := types.PerfQuerySpec{MaxSample: int32(maxSample), IntervalId: int32(interval)}
	sample, err := m.SampleByName(ctx, spec, names, []types.ManagedObjectReference{vm})
	check(err)
	series, err := m.ToMetricSeries(ctx, sample)
	check(err)
	for _, s := range series {
		for _, info := range s.SampleInfo {
			fmt.Println("sample:", info.Interval, info.Timestamp.UTC().Format("2006-01-02T15:04:05Z"))
		}
		for _, v := range s.Value {
			fmt.Println("series:", v.Name, v.Instance, v.ValueCSV())
		}
	}
}
