// What govc does for `govc about`, `govc ls`, `govc vm.info`, `govc vm.power -on NAME`,
// `govc pool.create` and `govc pool.destroy`, written with govmomi, the library govc is made of
// (govc itself is not packaged where the lab is built; Debian packages the library).
// Usage: govmomi_client URL [VM-TO-POWER-ON]
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
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
	fmt.Println("about:", c.ServiceContent.About.FullName, c.ServiceContent.About.ApiType, c.ServiceContent.About.ApiVersion)
	f := find.NewFinder(c.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	check(err)
	f.SetDatacenter(dc)
	fmt.Println("datacenter:", dc.InventoryPath)
	vms, err := f.VirtualMachineList(ctx, "*")
	check(err)
	for _, vm := range vms {
		var m mo.VirtualMachine
		check(vm.Properties(ctx, vm.Reference(), []string{"name", "summary.quickStats", "runtime.powerState", "runtime.host", "resourcePool"}, &m))
		fmt.Println("vm:", vm.InventoryPath, m.Runtime.PowerState, m.Summary.QuickStats.GuestMemoryUsage, m.Summary.QuickStats.HostMemoryUsage, m.Runtime.Host, m.ResourcePool)
	}
	hosts, err := f.HostSystemList(ctx, "*")
	check(err)
	for _, h := range hosts {
		var m mo.HostSystem
		check(h.Properties(ctx, h.Reference(), []string{"summary", "configManager"}, &m))
		fmt.Println("host:", h.InventoryPath, m.Summary.Hardware.MemorySize, m.Summary.QuickStats.OverallMemoryUsage, m.ConfigManager.AdvancedOption)
	}
	pools, err := f.ResourcePoolList(ctx, "*")
	check(err)
	for _, p := range pools {
		fmt.Println("pool:", p.InventoryPath)
	}
	if len(os.Args) > 2 {
		vm, err := f.VirtualMachine(ctx, os.Args[2])
		check(err)
		task, err := vm.PowerOn(ctx)
		check(err)
		err = task.Wait(ctx)
		fmt.Println("power on", os.Args[2], "->", err)
		root := pools[0]
		spec := types.DefaultResourceConfigSpec()
		child, err := root.Create(ctx, "govc-pool", spec)
		fmt.Println("pool.create ->", child, err)
		if err == nil {
			var pm mo.ResourcePool
			pc := property.DefaultCollector(c.Client)
			check(pc.RetrieveOne(ctx, child.Reference(), []string{"name", "runtime", "config"}, &pm))
			fmt.Println("pool runtime memory:", pm.Runtime.Memory.UnreservedForPool, pm.Config.MemoryAllocation.Shares.Level)
			t, err := child.Destroy(ctx)
			check(err)
			fmt.Println("pool.destroy ->", t.Wait(ctx))
		}
	}
	check(c.Logout(ctx))
	fmt.Println("logged out")
}
