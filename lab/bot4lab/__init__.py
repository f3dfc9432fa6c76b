"""bot4 lab: Debian node images and QEMU VMs that look like two-socket HFT servers
(``lab/labctl.py``), and in ``cluster/`` the lab Kubernetes cluster
(``lab/cluster/clusterctl.py``).

Standard library only (``cluster/`` also uses PyYAML), so that both tools run
with the system Python as well as with the project's virtualenv.
"""
