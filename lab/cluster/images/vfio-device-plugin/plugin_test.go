package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const labConfig = `{"resourceList": [{"resourceName": "dpdk_nic", "resourcePrefix": "hft.bot4.io",
  "selectors": {"vendors": ["8086"], "devices": ["10d3"], "pciAddresses": ["0000:81:00.0"], "drivers": ["vfio-pci"]}}]}`

func TestParseConfigReadsTheRealPluginsFormat(t *testing.T) {
	cfg, err := ParseConfig([]byte(labConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ResourceList) != 1 {
		t.Fatalf("resources: %+v", cfg.ResourceList)
	}
	res := cfg.ResourceList[0]
	if res.FullName() != "hft.bot4.io/dpdk_nic" {
		t.Errorf("full name %q", res.FullName())
	}
	if res.EnvName() != "PCIDEVICE_HFT_BOT4_IO_DPDK_NIC" {
		t.Errorf("env name %q", res.EnvName())
	}
	if res.SocketName() != "hft_bot4_io_dpdk_nic.sock" {
		t.Errorf("socket %q", res.SocketName())
	}
	want := []Selector{{Vendors: []string{"8086"}, Devices: []string{"10d3"},
		PCIAddresses: []string{"0000:81:00.0"}, Drivers: []string{"vfio-pci"}}}
	if !reflect.DeepEqual(res.Selectors, want) {
		t.Errorf("selectors %+v", res.Selectors)
	}
}

func TestParseConfigDefaultsAndListForm(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"resourceList": [{"resourceName": "nic",
	  "selectors": [{"vendors": ["0x8086"], "drivers": ["vfio-pci"]}, {"pciAddresses": ["0000:03:00.1"], "drivers": ["vfio-pci"]}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res := cfg.ResourceList[0]
	if res.FullName() != "intel.com/nic" || res.EnvName() != "PCIDEVICE_INTEL_COM_NIC" {
		t.Errorf("defaults: %q %q", res.FullName(), res.EnvName())
	}
	if len(res.Selectors) != 2 || res.Selectors[0].Vendors[0] != "8086" {
		t.Errorf("selectors %+v", res.Selectors)
	}
}

func TestParseConfigRefusesWhatItCannotHonour(t *testing.T) {
	for _, tc := range []struct{ name, config, message string }{
		{"empty", `{"resourceList": []}`, "resourceList is empty"},
		{"not json", `{`, "config:"},
		{"bad name", `{"resourceList": [{"resourceName": "dpdk-nic", "selectors": {"drivers": ["vfio-pci"]}}]}`, "letters, digits and underscores"},
		{"bad prefix", `{"resourceList": [{"resourceName": "n", "resourcePrefix": "Bot4_IO", "selectors": {"drivers": ["vfio-pci"]}}]}`, "not a DNS subdomain"},
		{"no selectors", `{"resourceList": [{"resourceName": "n"}]}`, "selectors: missing"},
		{"other driver", `{"resourceList": [{"resourceName": "n", "selectors": {"drivers": ["igb_uio"]}}]}`, "VFIO devices only"},
		{"no driver", `{"resourceList": [{"resourceName": "n", "selectors": {"vendors": ["8086"]}}]}`, "VFIO devices only"},
		{"unknown selector", `{"resourceList": [{"resourceName": "n", "selectors": {"pfNames": ["eth0"], "drivers": ["vfio-pci"]}}]}`, `selector "pfNames" is not supported`},
		{"unknown key", `{"resourceList": [{"resourceName": "n", "isRdma": true, "selectors": {"drivers": ["vfio-pci"]}}]}`, `"isRdma" is not supported`},
		{"device type", `{"resourceList": [{"resourceName": "n", "deviceType": "accelerator", "selectors": {"drivers": ["vfio-pci"]}}]}`, "only netDevice"},
		{"bad vendor", `{"resourceList": [{"resourceName": "n", "selectors": {"vendors": ["intel"], "drivers": ["vfio-pci"]}}]}`, "4-digit hex vendor"},
		{"bad address", `{"resourceList": [{"resourceName": "n", "selectors": {"pciAddresses": ["81:00.0"], "drivers": ["vfio-pci"]}}]}`, "not a PCI address"},
		{"duplicate", `{"resourceList": [{"resourceName": "n", "selectors": {"drivers": ["vfio-pci"]}}, {"resourceName": "n", "selectors": {"drivers": ["vfio-pci"]}}]}`, "already defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %v, want %q", err, tc.message)
			}
		})
	}
}

// fakeDevice writes one PCI function into a fake sysfs tree.
func fakeDevice(t *testing.T, sysfs, addr, vendor, device, class, driver, group string, numa int) {
	t.Helper()
	dir := filepath.Join(sysfs, "devices", "pci0000:00", addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"vendor": "0x" + vendor, "device": "0x" + device, "class": "0x" + class,
		"numa_node": strconv.Itoa(numa)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if driver != "" {
		drv := filepath.Join(sysfs, "bus", "pci", "drivers", driver)
		_ = os.MkdirAll(drv, 0o755)
		if err := os.Symlink(drv, filepath.Join(dir, "driver")); err != nil {
			t.Fatal(err)
		}
	}
	if group != "" {
		grp := filepath.Join(sysfs, "kernel", "iommu_groups", group)
		_ = os.MkdirAll(grp, 0o755)
		if err := os.Symlink(grp, filepath.Join(dir, "iommu_group")); err != nil {
			t.Fatal(err)
		}
	}
	bus := filepath.Join(sysfs, "bus", "pci", "devices")
	_ = os.MkdirAll(bus, 0o755)
	if err := os.Symlink(dir, filepath.Join(bus, addr)); err != nil {
		t.Fatal(err)
	}
}

// The lab VM: the e1000e data NIC on NUMA node 1 bound to vfio-pci, the
// virtio management NIC, a second e1000e still on its kernel driver, a
// vfio-pci device that is no NIC, and a vfio-pci NIC without an IOMMU group.
func labSysfs(t *testing.T) string {
	sysfs := t.TempDir()
	fakeDevice(t, sysfs, "0000:81:00.0", "8086", "10d3", "020000", "vfio-pci", "12", 1)
	fakeDevice(t, sysfs, "0000:00:02.0", "1af4", "1041", "020000", "virtio-pci", "3", -1)
	fakeDevice(t, sysfs, "0000:82:00.0", "8086", "10d3", "020000", "e1000e", "13", 1)
	fakeDevice(t, sysfs, "0000:00:05.0", "8086", "10d3", "010802", "vfio-pci", "5", 0)
	fakeDevice(t, sysfs, "0000:83:00.0", "8086", "10d3", "020000", "vfio-pci", "", 1)
	return sysfs
}

func TestScanReadsSysfs(t *testing.T) {
	devs, err := ScanPCI(labSysfs(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 5 {
		t.Fatalf("devices %+v", devs)
	}
	nic := devs[len(devs)-3] // 0000:81:00.0 in address order
	want := PCIDevice{Address: "0000:81:00.0", Vendor: "8086", Device: "10d3", Class: "020000",
		Driver: "vfio-pci", IOMMUGroup: "12", NUMANode: 1}
	if nic != want {
		t.Errorf("got %+v, want %+v", nic, want)
	}
	if devs[0].Driver != "virtio-pci" || devs[0].NUMANode != -1 {
		t.Errorf("management NIC %+v", devs[0])
	}
}

func TestSelectFindsOnlyTheBoundNic(t *testing.T) {
	devs, err := ScanPCI(labSysfs(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, config := range []string{
		labConfig,
		// vendor/device only, or the driver alone: still only the bound NIC
		// in an IOMMU group (the kernel-driven e1000e, the storage function
		// and the group-less NIC never match).
		`{"resourceList": [{"resourceName": "n", "selectors": {"vendors": ["8086"], "devices": ["10d3"], "drivers": ["vfio-pci"]}}]}`,
		`{"resourceList": [{"resourceName": "n", "selectors": {"drivers": ["vfio-pci"]}}]}`,
	} {
		cfg, err := ParseConfig([]byte(config))
		if err != nil {
			t.Fatal(err)
		}
		got := addresses(cfg.ResourceList[0].Select(devs))
		if !reflect.DeepEqual(got, []string{"0000:81:00.0"}) {
			t.Errorf("%s: selected %v", config, got)
		}
	}
	for _, config := range []string{
		// Another address, another device id: nothing.
		`{"resourceList": [{"resourceName": "n", "selectors": {"pciAddresses": ["0000:82:00.0"], "drivers": ["vfio-pci"]}}]}`,
		`{"resourceList": [{"resourceName": "n", "selectors": {"devices": ["1572"], "drivers": ["vfio-pci"]}}]}`,
	} {
		cfg, _ := ParseConfig([]byte(config))
		if got := cfg.ResourceList[0].Select(devs); len(got) != 0 {
			t.Errorf("%s: selected %v", config, addresses(got))
		}
	}
}

func TestAllocateHandsOutTheGroupAndTheAddress(t *testing.T) {
	cfg, _ := ParseConfig([]byte(labConfig))
	res := cfg.ResourceList[0]
	known := map[string]PCIDevice{
		"0000:81:00.0": {Address: "0000:81:00.0", IOMMUGroup: "12"},
		"0000:81:00.1": {Address: "0000:81:00.1", IOMMUGroup: "12"},
		"0000:84:00.0": {Address: "0000:84:00.0", IOMMUGroup: "20"},
	}
	resp, err := containerResponse(res, known, []string{"0000:81:00.0", "0000:81:00.1", "0000:84:00.0"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, d := range resp.Devices {
		if d.HostPath != d.ContainerPath || d.Permissions != "rw" {
			t.Errorf("device %+v", d)
		}
		paths = append(paths, d.HostPath)
	}
	if !reflect.DeepEqual(paths, []string{"/dev/vfio/vfio", "/dev/vfio/12", "/dev/vfio/20"}) {
		t.Errorf("paths %v", paths)
	}
	if got := resp.Envs["PCIDEVICE_HFT_BOT4_IO_DPDK_NIC"]; got != "0000:81:00.0,0000:81:00.1,0000:84:00.0" {
		t.Errorf("env %q", got)
	}
	if _, err := containerResponse(res, known, []string{"0000:99:00.0"}); err == nil {
		t.Error("an unknown device id must fail")
	}
}

func TestPluginDevicesCarryTheirNumaNode(t *testing.T) {
	got := pluginDevices([]PCIDevice{{Address: "0000:81:00.0", NUMANode: 1}, {Address: "0000:00:03.0", NUMANode: -1}})
	if got[0].ID != "0000:81:00.0" || got[0].Health != "Healthy" || got[0].Topology.Nodes[0].ID != 1 {
		t.Errorf("%+v", got[0])
	}
	if got[1].Topology != nil {
		t.Errorf("unknown node must carry no topology: %+v", got[1])
	}
}

// The stand-in reads the config production ships (k8s/components/dpdk) as it is.
func TestParsesTheShippedConfig(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "..", "..", "..", "k8s", "components", "dpdk", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ResourceList) != 1 || cfg.ResourceList[0].FullName() != "hft.bot4.io/dpdk_nic" {
		t.Fatalf("resources %+v", cfg.ResourceList)
	}
	devs, err := ScanPCI(labSysfs(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := addresses(cfg.ResourceList[0].Select(devs)); !reflect.DeepEqual(got, []string{"0000:81:00.0"}) {
		t.Errorf("selected %v", got)
	}
}
