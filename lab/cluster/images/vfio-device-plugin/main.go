// Command vfio-device-plugin is the LAB-ONLY stand-in for the SR-IOV network
// device plugin (k8snetworkplumbingwg/sriov-network-device-plugin), which
// cannot be built from the Go module proxy. Production deploys the real
// plugin; this one exists so that the lab's kubelet node can prove the same
// contract end to end.
//
// It reads the real plugin's config.json (the vfio-pci subset: resourceName,
// resourcePrefix, selectors vendors/devices/pciAddresses/drivers), finds the
// PCI network devices that match and are bound to vfio-pci, advertises them to
// the kubelet as the extended resource <resourcePrefix>/<resourceName> over
// the device-plugin API (k8s.io/kubelet deviceplugin v1beta1), and on Allocate
// gives the container /dev/vfio/vfio, /dev/vfio/<iommu group> and
// PCIDEVICE_<RESOURCE>=<pci addresses>, as the real plugin does.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

func sortDevices(list []PCIDevice) {
	sort.Slice(list, func(i, j int) bool { return list[i].Address < list[j].Address })
}

func main() {
	config := flag.String("config-file", "/etc/pcidp/config.json", "the resource config (the real plugin's default path)")
	sysfs := flag.String("sysfs", "/sys", "sysfs mount to scan")
	dir := flag.String("device-plugin-dir", pluginapi.DevicePluginPath, "the kubelet's device-plugins directory")
	interval := flag.Duration("interval", 5*time.Second, "how often to rescan sysfs and check the socket")
	check := flag.Bool("check", false, "print the devices each resource selects now and exit")
	// The real plugin's DaemonSet passes --log-level; the stand-in logs every
	// registration, advertisement and allocation whatever the level.
	flag.Int("log-level", 0, "accepted for the SR-IOV network device plugin's DaemonSet args")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)

	cfg, err := LoadConfig(*config)
	if err != nil {
		log.Fatalf("%s: %v", *config, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var wg sync.WaitGroup
	for _, res := range cfg.ResourceList {
		s := newServer(res, *sysfs, *dir, *interval)
		if _, err := s.rescan(); err != nil {
			log.Fatalf("scan %s: %v", *sysfs, err)
		}
		list, _ := s.snapshot()
		log.Printf("%s: %d device(s) bound to vfio-pci match: %v", res.FullName(), len(list), addresses(list))
		if *check {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := s.serveOnce(ctx); err != nil {
					log.Printf("%s: %v (retrying)", res.FullName(), err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(*interval):
				}
			}
		}()
	}
	wg.Wait()
}
