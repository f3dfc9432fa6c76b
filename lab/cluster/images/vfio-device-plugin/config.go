package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// The subset of the SR-IOV network device plugin's config.json that this
// stand-in reads:
//
//	{"resourceList": [{"resourceName": "dpdk_nic", "resourcePrefix": "hft.bot4.io",
//	  "selectors": {"vendors": ["8086"], "devices": ["10d3"],
//	                "pciAddresses": ["0000:81:00.0"], "drivers": ["vfio-pci"]}}]}
//
// `selectors` may also be a list of such objects (a device matching any of
// them is selected), as newer releases of the real plugin accept. Within one
// selector object every non-empty list must match (vendor AND device AND
// address AND driver); an empty or missing list matches anything. Fields the
// stand-in does not implement are refused rather than ignored, so a config
// that would select differently on the real plugin never passes here.

const (
	defaultPrefix = "intel.com" // the real plugin's default resourcePrefix
	vfioDriver    = "vfio-pci"
)

// Selector is one selector object of a resource.
type Selector struct {
	Vendors      []string `json:"vendors,omitempty"`
	Devices      []string `json:"devices,omitempty"`
	PCIAddresses []string `json:"pciAddresses,omitempty"`
	Drivers      []string `json:"drivers,omitempty"`
}

// Resource is one entry of resourceList.
type Resource struct {
	ResourceName   string     `json:"resourceName"`
	ResourcePrefix string     `json:"resourcePrefix,omitempty"`
	DeviceType     string     `json:"deviceType,omitempty"`
	Selectors      []Selector `json:"-"`
}

// Config is the whole config.json.
type Config struct {
	ResourceList []Resource `json:"resourceList"`
}

// FullName is the extended resource as pods request it: <prefix>/<name>.
func (r Resource) FullName() string {
	prefix := r.ResourcePrefix
	if prefix == "" {
		prefix = defaultPrefix
	}
	return prefix + "/" + r.ResourceName
}

// EnvName is the variable Allocate sets, as the real plugin names it:
// PCIDEVICE_<PREFIX>_<NAME>, upper case, with every '.', '/' and '-' as '_'.
func (r Resource) EnvName() string {
	return "PCIDEVICE_" + strings.NewReplacer(".", "_", "/", "_", "-", "_").Replace(strings.ToUpper(r.FullName()))
}

// SocketName is the plugin's socket file in the kubelet's device-plugins directory.
func (r Resource) SocketName() string {
	return strings.NewReplacer("/", "_", ".", "_").Replace(r.FullName()) + ".sock"
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	prefixRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	hexIDRe  = regexp.MustCompile(`^[0-9a-f]{4}$`)
	pciRe    = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
)

// knownResourceKeys and knownSelectorKeys: what the stand-in implements.
var knownResourceKeys = map[string]bool{"resourceName": true, "resourcePrefix": true, "deviceType": true, "selectors": true}
var knownSelectorKeys = map[string]bool{"vendors": true, "devices": true, "pciAddresses": true, "drivers": true}

// ParseConfig reads and validates config.json.
func ParseConfig(data []byte) (*Config, error) {
	var raw struct {
		ResourceList []map[string]json.RawMessage `json:"resourceList"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(raw.ResourceList) == 0 {
		return nil, fmt.Errorf("config: resourceList is empty")
	}
	cfg := &Config{}
	seen := map[string]int{}
	for i, entry := range raw.ResourceList {
		where := fmt.Sprintf("resourceList[%d]", i)
		for key := range entry {
			if !knownResourceKeys[key] {
				return nil, fmt.Errorf("%s: %q is not supported by this stand-in (it implements %s)", where, key, keys(knownResourceKeys))
			}
		}
		var res Resource
		for key, dst := range map[string]*string{"resourceName": &res.ResourceName, "resourcePrefix": &res.ResourcePrefix, "deviceType": &res.DeviceType} {
			if v, ok := entry[key]; ok {
				if err := json.Unmarshal(v, dst); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", where, key, err)
				}
			}
		}
		if !nameRe.MatchString(res.ResourceName) {
			return nil, fmt.Errorf("%s.resourceName: %q must be letters, digits and underscores", where, res.ResourceName)
		}
		if res.ResourcePrefix != "" && !prefixRe.MatchString(res.ResourcePrefix) {
			return nil, fmt.Errorf("%s.resourcePrefix: %q is not a DNS subdomain", where, res.ResourcePrefix)
		}
		if res.DeviceType != "" && res.DeviceType != "netDevice" {
			return nil, fmt.Errorf("%s.deviceType: only netDevice is supported, not %q", where, res.DeviceType)
		}
		sels, err := parseSelectors(entry["selectors"], where+".selectors")
		if err != nil {
			return nil, err
		}
		res.Selectors = sels
		if j, dup := seen[res.FullName()]; dup {
			return nil, fmt.Errorf("%s: resource %s is already defined by resourceList[%d]", where, res.FullName(), j)
		}
		seen[res.FullName()] = i
		cfg.ResourceList = append(cfg.ResourceList, res)
	}
	return cfg, nil
}

// LoadConfig reads the config file at path.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(data)
}

func parseSelectors(raw json.RawMessage, where string) ([]Selector, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%s: missing (this stand-in needs drivers: [%s])", where, vfioDriver)
	}
	var objects []map[string]json.RawMessage
	if strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
		if err := json.Unmarshal(raw, &objects); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if len(objects) == 0 {
			return nil, fmt.Errorf("%s: empty list", where)
		}
	} else {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		objects = append(objects, one)
	}
	var out []Selector
	for i, obj := range objects {
		at := where
		if len(objects) > 1 || strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
			at = fmt.Sprintf("%s[%d]", where, i)
		}
		for key := range obj {
			if !knownSelectorKeys[key] {
				return nil, fmt.Errorf("%s: selector %q is not supported by this stand-in (it implements %s)", at, key, keys(knownSelectorKeys))
			}
		}
		data, _ := json.Marshal(obj)
		var sel Selector
		if err := json.Unmarshal(data, &sel); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		for i, v := range sel.Vendors {
			sel.Vendors[i] = strings.ToLower(strings.TrimPrefix(v, "0x"))
			if !hexIDRe.MatchString(sel.Vendors[i]) {
				return nil, fmt.Errorf("%s.vendors: %q is not a 4-digit hex vendor id", at, v)
			}
		}
		for i, v := range sel.Devices {
			sel.Devices[i] = strings.ToLower(strings.TrimPrefix(v, "0x"))
			if !hexIDRe.MatchString(sel.Devices[i]) {
				return nil, fmt.Errorf("%s.devices: %q is not a 4-digit hex device id", at, v)
			}
		}
		for i, v := range sel.PCIAddresses {
			sel.PCIAddresses[i] = strings.ToLower(v)
			if !pciRe.MatchString(sel.PCIAddresses[i]) {
				return nil, fmt.Errorf("%s.pciAddresses: %q is not a PCI address like 0000:81:00.0", at, v)
			}
		}
		if len(sel.Drivers) != 1 || sel.Drivers[0] != vfioDriver {
			return nil, fmt.Errorf("%s.drivers: this stand-in hands out VFIO devices only: drivers must be [%q], got %q", at, vfioDriver, sel.Drivers)
		}
		out = append(out, sel)
	}
	return out, nil
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
