// Container images for the lab's real kubelet node, built locally because no
// container registry is reachable: the pod sandbox (pause), a small test
// workload (hft-probe) and the lab-only stand-in for the SR-IOV network device
// plugin (vfio-device-plugin). `clusterctl.py build --images` packs them as OCI
// archives. pause and hft-probe use the standard library only; the device
// plugin speaks the kubelet's device-plugin API, so k8s.io/kubelet is the
// Kubernetes release of ../kube/go.mod and gRPC the version that release uses.
module bot4.hft/lab/cluster/images

go 1.26.0

require (
	google.golang.org/grpc v1.82.1
	k8s.io/kubelet v0.37.2
)

require (
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.40.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260526163538-3dc84a4a5aaa // indirect
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
)
