package main

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// containerResponse is what a container gets for the devices ids: the VFIO
// container device, each device's IOMMU group, and the addresses in
// PCIDEVICE_<RESOURCE> as the real plugin sets them.
func containerResponse(res Resource, known map[string]PCIDevice, ids []string) (*pluginapi.ContainerAllocateResponse, error) {
	resp := &pluginapi.ContainerAllocateResponse{
		Devices: []*pluginapi.DeviceSpec{{ContainerPath: "/dev/vfio/vfio", HostPath: "/dev/vfio/vfio", Permissions: "rw"}},
		Envs:    map[string]string{},
	}
	groups := map[string]bool{}
	var addrs []string
	for _, id := range ids {
		dev, ok := known[id]
		if !ok {
			return nil, fmt.Errorf("%s: unknown device %q", res.FullName(), id)
		}
		addrs = append(addrs, dev.Address)
		if groups[dev.IOMMUGroup] {
			continue // two functions of one group share its device node
		}
		groups[dev.IOMMUGroup] = true
		path := "/dev/vfio/" + dev.IOMMUGroup
		resp.Devices = append(resp.Devices, &pluginapi.DeviceSpec{ContainerPath: path, HostPath: path, Permissions: "rw"})
	}
	resp.Envs[res.EnvName()] = strings.Join(addrs, ",")
	return resp, nil
}

// pluginDevices is the device list the kubelet sees.
func pluginDevices(devs []PCIDevice) []*pluginapi.Device {
	var out []*pluginapi.Device
	for _, d := range devs {
		dev := &pluginapi.Device{ID: d.Address, Health: pluginapi.Healthy}
		if d.NUMANode >= 0 {
			dev.Topology = &pluginapi.TopologyInfo{Nodes: []*pluginapi.NUMANode{{ID: int64(d.NUMANode)}}}
		}
		out = append(out, dev)
	}
	return out
}

// server serves one resource on its own socket.
type server struct {
	pluginapi.UnimplementedDevicePluginServer
	res      Resource
	sysfs    string
	dir      string // the kubelet's device-plugins directory
	interval time.Duration

	mu      sync.Mutex
	devices map[string]PCIDevice
	changed chan struct{}
}

func newServer(res Resource, sysfs, dir string, interval time.Duration) *server {
	return &server{res: res, sysfs: sysfs, dir: dir, interval: interval, devices: map[string]PCIDevice{}, changed: make(chan struct{}, 1)}
}

// rescan reads sysfs and reports whether the device set changed.
func (s *server) rescan() (bool, error) {
	all, err := ScanPCI(s.sysfs)
	if err != nil {
		return false, err
	}
	found := map[string]PCIDevice{}
	for _, d := range s.res.Select(all) {
		found[d.Address] = d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reflect.DeepEqual(found, s.devices) {
		return false, nil
	}
	s.devices = found
	return true, nil
}

func (s *server) snapshot() ([]PCIDevice, map[string]PCIDevice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	known := map[string]PCIDevice{}
	var list []PCIDevice
	for k, v := range s.devices {
		known[k] = v
		list = append(list, v)
	}
	sortDevices(list)
	return list, known
}

func (s *server) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (s *server) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	for {
		list, _ := s.snapshot()
		if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: pluginDevices(list)}); err != nil {
			return err
		}
		log.Printf("%s: advertised %d device(s): %v", s.res.FullName(), len(list), addresses(list))
		select {
		case <-s.changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (s *server) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	_, known := s.snapshot()
	out := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		resp, err := containerResponse(s.res, known, c.DevicesIds)
		if err != nil {
			return nil, err
		}
		log.Printf("%s: allocated %v", s.res.FullName(), c.DevicesIds)
		out.ContainerResponses = append(out.ContainerResponses, resp)
	}
	return out, nil
}

func (s *server) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

func (s *server) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// serveOnce listens on the socket, registers with the kubelet and serves until
// the socket disappears (the kubelet removes every plugin socket when it
// restarts) or ctx ends.
func (s *server) serveOnce(ctx context.Context) error {
	sock := filepath.Join(s.dir, s.res.SocketName())
	_ = os.Remove(sock)
	lis, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	g := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(g, s)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	if err := register(ctx, filepath.Join(s.dir, "kubelet.sock"), s.res.SocketName(), s.res.FullName()); err != nil {
		return err
	}
	log.Printf("%s: registered with the kubelet on %s", s.res.FullName(), sock)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if _, err := os.Stat(sock); err != nil {
			log.Printf("%s: socket gone (kubelet restarted?): registering again", s.res.FullName())
			return nil
		}
		changed, err := s.rescan()
		if err != nil {
			log.Printf("%s: rescan: %v", s.res.FullName(), err)
		} else if changed {
			select {
			case s.changed <- struct{}{}:
			default:
			}
		}
	}
}

func register(ctx context.Context, kubeletSock, endpoint, resource string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+kubeletSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: endpoint, ResourceName: resource,
		Options: &pluginapi.DevicePluginOptions{},
	})
	return err
}

func addresses(devs []PCIDevice) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.Address)
	}
	return out
}
