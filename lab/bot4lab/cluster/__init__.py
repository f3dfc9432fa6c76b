# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab Kubernetes cluster behind ``lab/cluster/clusterctl.py``.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from the
Go module proxy, run on the host's loopback, plus kwok simulating a fleet of
tuned HFT worker nodes, and lab VMs (``lab/labctl.py``) joined as real kubelet
nodes. The Go modules, the fleet and the manifests it reads are in
``lab/cluster/``.

    common        paths, constants, ClusterError, log
    build         Go builds from the module proxy, cached by content hash
    images        the pause and test images as OCI archives
    pki           CAs, certificates (openssl) and kubeconfigs
    state         a cluster's state directory and component processes
    api           HTTPS client, kubectl
    controlplane  up (etcd, apiserver, controller-manager, scheduler), status, down
    kwok          the simulated fleet
    join          a lab VM as a kubelet node

Standard library and PyYAML only, so clusterctl.py runs with the system python3
as well as the project's virtualenv.
"""
