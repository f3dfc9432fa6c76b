// Command hft-probe is the lab's test workload. It reports where the kernel
// lets it run (allowed CPUs and memory nodes, from /proc/self/status) and the
// hugepages it can see, once on stdout and then over HTTP on :8080 until it is
// stopped, so a test can prove CPU pinning from inside the node.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
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
	}
}

func main() {
	addr := flag.String("listen", ":8080", "HTTP listen address; empty to only print")
	flag.Parse()
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
