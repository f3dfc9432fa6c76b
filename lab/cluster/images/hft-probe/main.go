// Command hft-probe is the lab's test workload. It reports where the kernel
// lets it run (allowed CPUs and memory nodes, from /proc/self/status) and the
// hugepages it can see, once on stdout and then over HTTP on :8080 until it is
// stopped, so a test can prove CPU pinning from inside the node. With
// -hugepages-dir it first maps hugepages from that hugetlbfs mount (a
// medium: HugePages emptyDir) and reports which NUMA nodes the kernel took them
// from (/proc/self/numa_maps). It also lists the VFIO device nodes it was given
// (/dev/vfio/*, each opened read-write once to prove access) and the
// PCIDEVICE_* variables a device plugin set, so a test can prove that a DPDK
// NIC reached the pod.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

type report struct {
	Hostname         string            `json:"hostname"`
	PID              int               `json:"pid"`
	CPUsAllowed      string            `json:"cpus_allowed"`
	MemsAllowed      string            `json:"mems_allowed"`
	Hugepages        map[string]string `json:"hugepages"`
	CgroupCPUSetCPUs string            `json:"cgroup_cpuset_cpus"`
	HugepageMapping  string            `json:"hugepage_mapping,omitempty"`
	HugepageError    string            `json:"hugepage_error,omitempty"`
	VFIO             map[string]string `json:"vfio,omitempty"`
	PCIDeviceEnv     map[string]string `json:"pcidevice_env,omitempty"`
}

// vfioDevices maps every entry of /dev/vfio to "ok" when it opens read-write,
// or to the error.
func vfioDevices() map[string]string {
	entries, err := os.ReadDir("/dev/vfio")
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, e := range entries {
		f, err := os.OpenFile(filepath.Join("/dev/vfio", e.Name()), os.O_RDWR, 0)
		if err != nil {
			out[e.Name()] = err.Error()
			continue
		}
		f.Close()
		out[e.Name()] = "ok"
	}
	return out
}

func pciDeviceEnv() map[string]string {
	out := map[string]string{}
	for _, kv := range os.Environ() {
		if name, value, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, "PCIDEVICE_") {
			out[name] = value
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// mapped is the hugetlbfs file this process maps, if any.
var mapped string
var mapErr string

// mapHugepages maps size bytes of a new file in dir (a hugetlbfs mount) and
// faults every page in, so the kernel allocates them now.
func mapHugepages(dir string, size int) error {
	path := filepath.Join(dir, "hft-probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(int64(size)); err != nil {
		return fmt.Errorf("size %s to %d bytes: %w", path, size, err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap %d bytes of %s: %w", size, path, err)
	}
	mem[0] = 1
	mapped = path
	return nil
}

// numaMapping is the /proc/self/numa_maps line of the mapped file: its "N<node>=<pages>" fields
// say which node each page came from.
func numaMapping() string {
	if mapped == "" {
		return ""
	}
	data, err := os.ReadFile("/proc/self/numa_maps")
	if err != nil {
		return "error: " + err.Error()
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, mapped) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func readKeyed(path string, keys ...string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		name, value, ok := strings.Cut(scan.Text(), ":")
		if !ok {
			continue
		}
		for _, k := range keys {
			if name == k {
				out[k] = strings.TrimSpace(value)
			}
		}
	}
	return out
}

func probe() report {
	host, _ := os.Hostname()
	status := readKeyed("/proc/self/status", "Cpus_allowed_list", "Mems_allowed_list")
	mem := readKeyed("/proc/meminfo", "HugePages_Total", "HugePages_Free", "Hugepagesize")
	cpuset, _ := os.ReadFile("/sys/fs/cgroup/cpuset.cpus.effective")
	return report{
		Hostname:         host,
		PID:              os.Getpid(),
		CPUsAllowed:      status["Cpus_allowed_list"],
		MemsAllowed:      status["Mems_allowed_list"],
		Hugepages:        mem,
		CgroupCPUSetCPUs: strings.TrimSpace(string(cpuset)),
		HugepageMapping:  numaMapping(),
		HugepageError:    mapErr,
		VFIO:             vfioDevices(),
		PCIDeviceEnv:     pciDeviceEnv(),
	}
}

func main() {
	addr := flag.String("listen", ":8080", "HTTP listen address; empty to only print")
	hugeDir := flag.String("hugepages-dir", "", "hugetlbfs mount to map hugepages from")
	hugeBytes := flag.Int("hugepages-bytes", 1<<30, "bytes to map from -hugepages-dir")
	flag.Parse()
	if *hugeDir != "" {
		if err := mapHugepages(*hugeDir, *hugeBytes); err != nil {
			mapErr = err.Error()
		}
	}
	first, _ := json.Marshal(probe())
	os.Stdout.Write(append(first, '\n'))
	if *addr == "" {
		return
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(probe())
	})
	go func() { log.Fatal(http.ListenAndServe(*addr, nil)) }()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
