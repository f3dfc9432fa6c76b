package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// fakeKubelet serves the kubelet's Registration service on kubelet.sock.
type fakeKubelet struct {
	pluginapi.UnimplementedRegistrationServer
	got chan *pluginapi.RegisterRequest
}

func (k *fakeKubelet) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	k.got <- req
	return &pluginapi.Empty{}, nil
}

// The whole exchange with a kubelet over real unix sockets: registration,
// ListAndWatch (and its update when the binding changes), Allocate, and a
// new registration after the kubelet removed the plugin's socket (as it does
// when it restarts).
func TestServesTheKubeletsDevicePluginAPI(t *testing.T) {
	sysfs := labSysfs(t)
	dir, err := os.MkdirTemp("", "dp") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	lis, err := net.Listen("unix", filepath.Join(dir, "kubelet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	kubelet := &fakeKubelet{got: make(chan *pluginapi.RegisterRequest, 4)}
	g := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(g, kubelet)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	cfg, err := ParseConfig([]byte(labConfig))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(cfg.ResourceList[0], sysfs, dir, 50*time.Millisecond)
	if _, err := s.rescan(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.serveOnce(ctx) }()

	var req *pluginapi.RegisterRequest
	select {
	case req = <-kubelet.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no registration")
	}
	if req.Version != "v1beta1" || req.ResourceName != "hft.bot4.io/dpdk_nic" || req.Endpoint != "hft_bot4_io_dpdk_nic.sock" {
		t.Fatalf("registration %+v", req)
	}

	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, req.Endpoint), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pluginapi.NewDevicePluginClient(conn)
	stream, err := client.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Devices) != 1 || first.Devices[0].ID != "0000:81:00.0" || first.Devices[0].Topology.Nodes[0].ID != 1 {
		t.Fatalf("devices %v", first.Devices)
	}

	resp, err := client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
		{DevicesIds: []string{"0000:81:00.0"}}}})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.ContainerResponses[0]
	if len(c.Devices) != 2 || c.Devices[1].HostPath != "/dev/vfio/12" || c.Envs["PCIDEVICE_HFT_BOT4_IO_DPDK_NIC"] != "0000:81:00.0" {
		t.Fatalf("allocation %v", c)
	}
	if _, err := client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
		{DevicesIds: []string{"0000:82:00.0"}}}}); err == nil {
		t.Fatal("allocating a device the plugin does not advertise must fail")
	}

	// The NIC goes back to its kernel driver: the kubelet hears of it.
	nicDir := filepath.Join(sysfs, "devices", "pci0000:00", "0000:81:00.0")
	if err := os.Remove(filepath.Join(nicDir, "driver")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(sysfs, "bus", "pci", "drivers", "e1000e"), filepath.Join(nicDir, "driver")); err != nil {
		t.Fatal(err)
	}
	next, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Devices) != 0 {
		t.Fatalf("after unbinding: %v", next.Devices)
	}

	// The kubelet restarts and removes the socket: serveOnce returns so the
	// plugin registers again.
	if err := os.Remove(filepath.Join(dir, req.Endpoint)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveOnce did not notice its socket was gone")
	}
}
