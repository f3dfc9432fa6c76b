// Container images for the lab's real kubelet node, built locally because no
// container registry is reachable: the pod sandbox (pause) and a small test
// workload. `clusterctl.py build --images` packs them as OCI archives.
module bot4.hft/lab/cluster/images

go 1.26.0
