package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// PCIDevice is a PCI function as sysfs shows it.
type PCIDevice struct {
	Address    string // 0000:81:00.0
	Vendor     string // 8086
	Device     string // 10d3
	Class      string // 020000
	Driver     string // vfio-pci, or "" without a driver
	IOMMUGroup string // "12", or "" without an IOMMU group
	NUMANode   int    // -1 when unknown
}

// IsNetwork reports a network controller (PCI base class 0x02), the only
// devices the real plugin's netDevice type considers.
func (d PCIDevice) IsNetwork() bool { return strings.HasPrefix(d.Class, "02") }

// ScanPCI reads every device under <sysfs>/bus/pci/devices.
func ScanPCI(sysfs string) ([]PCIDevice, error) {
	dir := filepath.Join(sysfs, "bus", "pci", "devices")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []PCIDevice
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		dev := PCIDevice{Address: e.Name(), NUMANode: -1}
		for name, dst := range map[string]*string{"vendor": &dev.Vendor, "device": &dev.Device, "class": &dev.Class} {
			data, err := os.ReadFile(filepath.Join(path, name))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Name(), err)
			}
			*dst = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(string(data)), "0x"))
		}
		if link, err := os.Readlink(filepath.Join(path, "driver")); err == nil {
			dev.Driver = filepath.Base(link)
		}
		if link, err := os.Readlink(filepath.Join(path, "iommu_group")); err == nil {
			dev.IOMMUGroup = filepath.Base(link)
		}
		if data, err := os.ReadFile(filepath.Join(path, "numa_node")); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				dev.NUMANode = n
			}
		}
		out = append(out, dev)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}

func matchList(list []string, value string) bool {
	return len(list) == 0 || slices.Contains(list, value)
}

// Matches reports whether the device satisfies every list of the selector.
func (s Selector) Matches(d PCIDevice) bool {
	return matchList(s.Vendors, d.Vendor) && matchList(s.Devices, d.Device) &&
		matchList(s.PCIAddresses, d.Address) && matchList(s.Drivers, d.Driver)
}

// Select returns the network devices of the resource: matched by one of its
// selectors, bound to vfio-pci and in an IOMMU group (without one there is no
// /dev/vfio/<group> to hand out).
func (r Resource) Select(devices []PCIDevice) []PCIDevice {
	var out []PCIDevice
	for _, d := range devices {
		if !d.IsNetwork() || d.Driver != vfioDriver || d.IOMMUGroup == "" {
			continue
		}
		for _, s := range r.Selectors {
			if s.Matches(d) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}
